import ElastosCore
import Foundation
import Synchronization

/// An audit sink that keeps every event, for asserting what was recorded.
final class RecordingAuditSink: AuditSink {
    private let events = Mutex<[AuditEvent]>([])
    func record(_ event: AuditEvent) { events.withLock { $0.append(event) } }
    var all: [AuditEvent] { events.withLock { $0 } }
    var last: AuditEvent? { all.last }
}

/// A clock the test moves by hand.
final class ManualClock: Sendable {
    private let now: Mutex<UInt64>
    init(_ start: UInt64 = 1_800_000_000) { now = Mutex(start) }
    var value: UInt64 { now.withLock { $0 } }
    func advance(_ s: UInt64) { now.withLock { $0 += s } }
    func set(_ v: UInt64) { now.withLock { $0 = v } }
    var function: @Sendable () -> UInt64 { { self.value } }
}

func hex(_ s: String) -> [UInt8] { Hex.decode(s)! }

func loadVectors(_ name: String) throws -> [String: Any] {
    let url = try #require(Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Vectors"))
    return try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
}

import Testing
