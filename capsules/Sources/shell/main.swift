// shell: the orchestrator (docs/POLICY.md, "The shell capsule"). The node hands it every
// capability request as a `serve` call on elastos://shell/decide and, after a prompt, the
// person's answer on elastos://shell/settle; it decides with the policy file in its own
// directory (/data, which the node binds to <home>/shell) and answers with the outcome. It holds
// no key and no network, and gets no capability itself: it only decides.
import CapsuleWire
import ElastosGuest
import ElastosPolicy

func fail(_ message: String) -> Never {
    Console.log("shell: " + message)
    Capsule.exit(1)
}

let directory = Capsule.arguments.count > 1 ? Capsule.arguments[1] : "/data"
let engine = PolicyEngine(policyPath: directory + "/" + PolicyFile.fileName)

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
    var outcome: PolicyOutcome?
    var refusal = ""
    do throws(ShellWire.Error) {
        switch call.uri {
        case ShellWire.decideURI: outcome = engine.evaluate(try ShellWire.decodeRequest(call.body))
        case ShellWire.settleURI:
            let (request, answer) = try ShellWire.decodeSettle(call.body)
            outcome = engine.settle(request, answer: answer)
        default: refusal = "the shell answers \(ShellWire.decideURI) and \(ShellWire.settleURI), not \(call.uri)"
        }
    } catch {
        refusal = error.description
    }
    do throws(GuestError) {
        if let outcome { try Runtime.answer(call, body: ShellWire.encode(outcome)) } else {
            try Runtime.fail(call, code: .invalidRequest, message: refusal)
        }
    } catch .disconnected {
        Capsule.exit(0)
    } catch {
        fail("cannot answer call \(call.id): \(error)")
    }
}
