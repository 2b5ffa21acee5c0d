// storage-provider: serves `localhost://storage/` as a provider capsule on the native substrate
// (docs/STORAGE.md, docs/CAPSULE-PROTOCOL.md "Provider capsules"). The runtime checks every
// call first — the caller's token, for exactly this URI and action — and hands it here as a
// `serve` frame; this capsule carries it out on the encrypted store in its data directory
// (`/data`, which the node binds to `<home>/storage`) with the same `StorageService` the
// runtime uses in-process, and answers. The master key never leaves the sandbox's /data.
//
// One call at a time: the store serialises writers per namespace anyway, and a crash (kill -9)
// at any point leaves every object's old or new content (the store's write ordering).
import CapsuleWire
import ElastosCore
import ElastosGuest
import ElastosStorage

func fail(_ message: String) -> Never {
    Console.log("storage-provider: " + message)
    Capsule.exit(1)
}

let directory = Capsule.arguments.count > 1 ? Capsule.arguments[1] : "/data"
let service: StorageService
do { service = StorageService(store: try EncryptedStore(directory: directory)) } catch {
    fail("cannot open the store in \(directory): \(error)")
}

while true {
    let call: ServedCall
    do throws(GuestError) {
        guard let next = try Runtime.nextCall() else { continue }
        call = next
    } catch .disconnected {
        Capsule.exit(0)  // the node closed the channel: it is shutting down
    } catch {
        fail("the channel to the runtime failed: \(error)")
    }
    let answer: StorageReply
    do { answer = service.handle(resource: try ResourceURI(call.uri), action: call.action, body: call.body) } catch {
        answer = .failed(code: .invalidURI, message: "\(error)")
    }
    do throws(GuestError) {
        switch answer {
        case .ok(let body): try Runtime.answer(call, body: body)
        case .failed(let code, let message): try Runtime.fail(call, code: code, message: message)
        }
    } catch .disconnected {
        Capsule.exit(0)
    } catch {
        fail("cannot answer call \(call.id): \(error)")
    }
}
