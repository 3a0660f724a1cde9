import SMTPCore

/// Ends of DATA and BDAT: accepting or refusing the message.
extension SMTPServerConnection {
    mutating func finishData(_ decoder: DataDecoder) {
        phase = .commands
        guard let transaction = session.transaction else {
            preconditionFailure("DATA without a transaction")
        }
        if endOfDataRule() { return }
        session.transaction = nil
        let findings = decoder.findings
        if !findings.isClean { emit(.note(.dataFindings(findings))) }
        if decoder.isOversized { return reply(.messageTooBig) }
        if configuration.rejectBareLineEndings, findings.hasBareLineEndings, !configuration.has(.acceptsBareLFEndOfData) {
            return reply(.bareLineEndingInData)
        }
        if findings.longLines > 0 { return reply(.textLineTooLong) }
        accept(transaction, body: decoder.body, findings: findings, viaBDAT: false)
    }

    mutating func appendChunk(_ octets: [UInt8]) {
        guard case .chunks(var stored, let counted)? = session.transaction?.body else { return }
        session.transaction?.body = .notStarted  // `stored` is then the only reference while it grows
        stored += octets.prefix(max(0, configuration.maximumMessageSize - stored.count))
        session.transaction?.body = .chunks(stored: stored, octets: counted + octets.count)
    }

    mutating func finishChunk(_ reader: ChunkReader, accepted: Bool) {
        phase = .commands
        guard accepted, let transaction = session.transaction else { return }  // the refusal was already sent
        guard reader.isLast else { return reply(.chunkAccepted(octets: Int(reader.size))) }
        if endOfDataRule() { return }
        session.transaction = nil
        guard case .chunks(let stored, _) = transaction.body else { return }
        accept(transaction, body: stored, findings: DataFindings(), viaBDAT: true)
    }

    private mutating func accept(_ transaction: Transaction, body: [UInt8], findings: DataFindings, viaBDAT: Bool) {
        acceptedCount += 1
        let id = "\(connectionID).\(acceptedCount)"
        var message = AcceptedMessage(
            queueID: id, reversePath: transaction.reversePath, recipients: transaction.recipients,
            parameters: transaction.parameters, body: body, heloName: session.heloName, overTLS: session.tls,
            authenticatedAs: session.authenticatedAs, viaBDAT: viaBDAT, findings: findings)
        message.completedAfterTLSEnd = session.clearAfterTLS
        emit(.deliver(message))
        reply(.messageAccepted(queueID: id))
    }
}
