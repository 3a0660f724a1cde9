import COpenSSL

/// SHA-256 for transcript digests (the simulator's and the tests' determinism checks).
public enum Digest {
    public static func sha256<Bytes: Collection>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let input = Array(bytes)
        input.withUnsafeBufferPointer { buf in
            _ = EVP_Digest(buf.baseAddress, buf.count, &out, &length, EVP_sha256(), nil)
        }
        return out
    }

    public static func sha256Hex<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        sha256(bytes).map { String($0, radix: 16).leftPadded(2) }.joined()
    }
}
