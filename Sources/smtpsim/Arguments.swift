import ArgumentParser
import EndpointHosting
import SMTPClient
import SMTPServer
import SMTPTLS
import Scenario

// Command-line values are the library's own enums: one vocabulary, parsed and listed by
// ArgumentParser ("unknown value" errors name every valid one), never a string matched by hand.
extension ServerFlaw: ExpressibleByArgument {}
extension ClientFlaw: ExpressibleByArgument {}
extension CertificateFactory.Variant: ExpressibleByArgument {}
extension CertificateFactory.KeyType: ExpressibleByArgument {}
extension PreSharedKey.Mode: ExpressibleByArgument {}
extension ProtocolPhase: ExpressibleByArgument {}
extension TLSProfileName: ExpressibleByArgument {}

/// "a, b, c" of a vocabulary, for help texts.
func listed<T: CaseIterable & RawRepresentable>(_ type: T.Type) -> String where T.RawValue == String {
    T.allCases.map(\.rawValue).joined(separator: ", ")
}

