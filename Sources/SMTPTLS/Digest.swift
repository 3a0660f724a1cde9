import COpenSSL

/// SHA-256 for transcript digests (the simulator's and the tests' determinism checks).
public enum Digest {
    public static func sha256<Bytes: Collection>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        var stream = SHA256Stream()
        stream.update(Array(bytes))
        return stream.finish()
    }

    public static func sha256Hex<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        hex(sha256(bytes))
    }

    /// Lower-case hex, two digits an octet.
    public static func hex(_ digest: [UInt8]) -> String {
        digest.map { String($0, radix: 16).leftPadded(2) }.joined()
    }
}

/// SHA-256 over a stream fed in parts: the same digest as over the parts joined. A value: a copy
/// goes on from where it was copied (the OpenSSL context is duplicated on first write).
public struct SHA256Stream: @unchecked Sendable {
    /// The context, owned by this value alone before it is updated (copy on write).
    private var context: Context

    public init() { context = Context() }

    public mutating func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { update($0) }
    }

    public mutating func update(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard !bytes.isEmpty else { return }
        if !isKnownUniquelyReferenced(&context) { context = context.copy() }
        _ = EVP_DigestUpdate(context.pointer, bytes.baseAddress, bytes.count)
    }

    /// The digest of everything fed so far; the stream itself goes on unchanged.
    public func finish() -> [UInt8] {
        let copy = context.copy()
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = EVP_DigestFinal_ex(copy.pointer, &out, &length)
        return out
    }

    private final class Context {
        let pointer: OpaquePointer

        init() {
            pointer = EVP_MD_CTX_new()
            _ = EVP_DigestInit_ex(pointer, EVP_sha256(), nil)
        }

        private init(copying other: Context) {
            pointer = EVP_MD_CTX_new()
            _ = EVP_MD_CTX_copy_ex(pointer, other.pointer)
        }

        func copy() -> Context { Context(copying: self) }

        deinit { EVP_MD_CTX_free(pointer) }
    }
}
