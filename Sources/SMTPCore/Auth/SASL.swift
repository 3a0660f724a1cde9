/// SASL helpers for SMTP AUTH (RFC 4954) with the PLAIN (RFC 4616) and LOGIN mechanisms.
public enum SASL {
    /// The mechanisms smtpsim implements on both sides.
    public enum Mechanism: String, CaseIterable, Hashable, Sendable {
        /// RFC 4616.
        case plain = "PLAIN"
        /// draft-murchison-sasl-login.
        case login = "LOGIN"
    }

    /// RFC 4616 §2: each of authzid, authcid and passwd is at most 255 octets of UTF-8.
    public static let plainFieldLimit = 255

    /// The credentials carried by one PLAIN message.
    public struct PlainCredentials: Hashable, Sendable {
        /// Authorization identity; empty means "the same as authcid".
        public var authorizationID: String
        public var username: String
        public var password: String

        public init(authorizationID: String = "", username: String, password: String) {
            self.authorizationID = authorizationID
            self.username = username
            self.password = password
        }

        /// `message = [authzid] UTF8NUL authcid UTF8NUL passwd`, base64-encoded (RFC 4616 §2).
        public func encoded() throws(SMTPError) -> String {
            for field in [authorizationID, username, password] {
                guard !field.utf8.contains(0), field.utf8.count <= SASL.plainFieldLimit else {
                    throw SMTPError(.invalidSASLMessage, fault: .local, detail: "PLAIN field holds NUL or exceeds 255 octets")
                }
            }
            guard !username.isEmpty, !password.isEmpty else {
                throw SMTPError(.invalidSASLMessage, fault: .local, detail: "PLAIN needs a username and a password")
            }
            return Base64.encode(Array(authorizationID.utf8) + [0] + Array(username.utf8) + [0] + Array(password.utf8))
        }

        /// Decodes a base64 PLAIN message (RFC 4616 §2).
        public init(base64: String) throws(SMTPError) {
            let message = try Base64.decode(base64)
            let parts = message.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[2].contains(0) else {
                throw SASL.invalidMessage("PLAIN message must hold exactly two NUL separators")
            }
            guard !parts[1].isEmpty, !parts[2].isEmpty else {
                throw SASL.invalidMessage("PLAIN authcid and passwd must not be empty")
            }
            guard parts.allSatisfy({ $0.count <= SASL.plainFieldLimit }) else {
                throw SASL.invalidMessage("PLAIN field over 255 octets")
            }
            func text(_ bytes: ArraySlice<UInt8>) throws(SMTPError) -> String {
                guard let s = String(validating: bytes, as: UTF8.self) else {
                    throw SASL.invalidMessage("PLAIN field is not UTF-8")
                }
                return s
            }
            self.authorizationID = try text(parts[0])
            self.username = try text(parts[1])
            self.password = try text(parts[2])
        }
    }

    /// The LOGIN mechanism's two challenges (draft-murchison-sasl-login): "Username:", "Password:".
    public static let loginUsernameChallenge = Base64.encode("Username:")
    public static let loginPasswordChallenge = Base64.encode("Password:")

    /// What a client line answering a 334 challenge means (RFC 4954 §4).
    public enum Response: Hashable, Sendable {
        /// The decoded response octets.
        case data([UInt8])
        /// `*`: the client cancels the exchange (server replies 501 5.0.0).
        case cancel
    }

    /// Parses one line sent in answer to a 334 challenge (without CRLF): `*` cancels, `=` is an
    /// empty response, anything else must be base64. `limit` counts the CRLF (RFC 4954 §4:
    /// 12288 octets).
    public static func parseResponse(_ line: ArraySlice<UInt8>, limit: Int = SMTPLimits.rfcAuthLine) throws(SMTPError) -> Response {
        guard line.count + 2 <= limit else {
            throw SMTPError(.authLineTooLong, reply: .authLineTooLong, detail: "SASL response of \(line.count + 2) octets, limit \(limit)")
        }
        if line.count == 1, line.first == ASCII.asterisk {
            throw SMTPError(.authCancelled, reply: .authCancelled, detail: "client sent *")
        }
        if line.count == 1, line.first == ASCII.equals { return .data([]) }
        return .data(try Base64.decode(line))
    }

    /// Decodes an initial response given on the AUTH line (RFC 4954 §4: `=` means empty).
    public static func decodeInitialResponse(_ text: String) throws(SMTPError) -> [UInt8] {
        if text == "=" { return [] }
        return try Base64.decode(text)
    }

    static func invalidMessage(_ detail: String) -> SMTPError {
        SMTPError(.invalidSASLMessage, reply: .authInvalidBase64, detail: detail)
    }
}
