// chat: rooms over Carrier, the same Swift built as a native capsule (capsules/native/chat) and
// as a WASM capsule (capsules/chat-wasm), both talking to the runtime's elastos://peer/ and
// elastos://did/ providers (docs/CHAT.md).
//
//   chat [--nick NAME] [--room #NAME] [--connect TICKET]… [--json]
//
// Every line typed is a message to the current room; lines starting with '/' are commands
// (/help). With --json every output line is one JSON object (for scripts); input is the same.
// Standard input ending is /quit.
import CapsuleWire
import ChatWire
import DIDWire
import ElastosGuest
import PeerWire

struct Options {
    var nick = "anon"
    var room = "#general"
    var connect: [String] = []
    var json = false

    static func parse(_ args: [String]) -> Options {
        var o = Options()
        var i = 1
        func value() -> String? {
            i += 1
            return i < args.count ? args[i] : nil
        }
        while i < args.count {
            switch args[i] {
            case "--nick", "-n": if let v = value() { o.nick = v }
            case "--room", "-r": if let v = value() { o.room = v }
            case "--connect", "-c": if let v = value() { o.connect.append(v) }
            case "--json": o.json = true
            default: fail("unknown argument \(args[i]); usage: chat [--nick NAME] [--room #NAME] [--connect TICKET]… [--json]")
            }
            i += 1
        }
        if let why = ChatNick.problem(o.nick) { fail("--nick \(o.nick): \(why)") }
        guard let room = ChatRoomName.normalised(o.room) else { fail("--room \(o.room): " + (ChatRoomName.problem(o.room) ?? "invalid")) }
        o.room = room
        return o
    }
}

func fail(_ message: String) -> Never {
    Console.log("chat: " + message)
    Capsule.exit(2)
}

func main() {
    var app = ChatApp(options: Options.parse(Capsule.arguments))
    app.run()
}
main()
