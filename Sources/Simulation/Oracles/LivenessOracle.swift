import EndpointHosting
import SMTPClient
import SMTPCore
import SMTPServer

/// Every session reaches a classified outcome within the event budget and the liveness window
/// after the faults stop (docs/design.md rule 8; RFC 5321 §4.5.3.2; docs/catalog.md C5).
struct LivenessOracle: RunOracle {
    func finish(outcomes: [MessageOutcome], accepted: [AcceptedMessage], in world: World) {
        guard world.budgetExhausted || world.deadlinePassed || !world.clientDone.allSatisfy({ $0 }) else { return }
        let configuration = world.configuration
        let why = world.budgetExhausted ? "the event budget (\(configuration.eventBudget)) ran out before every session ended"
            : world.deadlinePassed ? "a session was still running when the liveness window closed (\(TraceEvent.formatTime(configuration.faultWindow + configuration.livenessWindow)))"
            : "a session never ended"
        world.report(Finding(oracle: .liveness, eventIndex: world.trace.count, explanation: why, reference: "RFC 5321 §4.5.3.2; docs/catalog.md C5"))
    }

    /// A client that reports outcomes left a message without one.
    static func missingOutcome(client: Int, message: String, at index: Int) -> Finding {
        Finding(oracle: .liveness, eventIndex: index, explanation: "client \(client): message \(message) has no outcome", reference: "docs/design.md rule 8")
    }
}
