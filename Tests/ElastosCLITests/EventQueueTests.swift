import Foundation
import Testing
@testable import ElastosCLI

/// The bounded queue between the router's tasks and a `peer.subscribe` control connection.
@Suite struct EventQueueTests {
    @Test func aFullQueueCountsDropsAndReportsThemInOrder() throws {
        let queue = EventQueue(limit: 3)
        for i in 0..<5 { queue.push(line: "m\(i)") }
        #expect(queue.count == 3)
        #expect(queue.next() == "m0")
        // Room again: the two lost lines are reported before the next one kept.
        queue.push(line: "m5")
        #expect(queue.next() == "m1")
        #expect(queue.next() == "m2")
        let dropped = try #require(queue.next())
        let object = try #require(try JSONSerialization.jsonObject(with: Data(dropped.utf8)) as? [String: Any])
        #expect(object["event"] as? String == "dropped" && object["count"] as? Int == 2)
        #expect(queue.next() == "m5")
        #expect(queue.count == 0)
    }

    @Test func closingDrainsWhatIsQueuedThenEnds() {
        let queue = EventQueue(limit: 10)
        queue.push(line: "a")
        queue.push(line: "b")
        queue.close()
        queue.push(line: "after close")
        #expect(queue.next() == "a")
        #expect(queue.next() == "b")
        #expect(queue.next() == nil)
    }

    @Test func aWaitingConsumerIsWokenByAnotherThread() {
        let queue = EventQueue(limit: 10_000)
        let producer = Thread {
            for i in 0..<5_000 { queue.push(line: String(i)) }
            queue.close()
        }
        producer.start()
        var received: [String] = []
        while let line = queue.next() { received.append(line) }
        #expect(received == (0..<5_000).map(String.init))
    }
}
