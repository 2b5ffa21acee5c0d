// Base encodings behind the multibase prefixes this runtime reads.
// Specs: https://github.com/multiformats/multibase (rfc4648.md, base36 in multibase.csv)
//        RFC 4648 section 6 (base32, here lower case and without padding, multibase 'b')
//        base36 lower case, multibase 'k': the base-x scheme (big-endian number, one leading
//        '0' per leading zero byte), as js-multiformats and go-multibase implement it.
// Decoders are strict so each byte string has exactly one text form: one alphabet case, no
// padding, no whitespace, and for base32 no dangling character or non-zero trailing bits.

/// A positional alphabet (base-x): the input is one big-endian number, with each leading zero
/// byte written as the alphabet's first character. Shared by base58btc and base36.
///
/// Conversion is quadratic in the length, so it works on 32-bit limbs (several digits or four
/// bytes per step) to stay quick up to the tens of kilobytes capability tokens may reach;
/// callers cap the text length.
struct BaseXAlphabet: Sendable {
    let name: String
    let characters: [UInt8]
    /// ASCII value -> digit, or 0xff for characters outside the alphabet.
    let digits: [UInt8]
    let radix: UInt64
    /// The most digits whose value fits one 32-bit limb, and radix to that power.
    let digitsPerLimb: Int
    let limbRadix: UInt64

    init(name: String, alphabet: String) {
        self.name = name
        self.characters = Array(alphabet.utf8)
        var table = [UInt8](repeating: 0xff, count: 128)
        for (value, character) in characters.enumerated() {
            table[Int(character)] = UInt8(value)
        }
        self.digits = table
        self.radix = UInt64(characters.count)
        var count = 0
        var power: UInt64 = 1
        while power * radix <= UInt64(UInt32.max) {
            power *= radix
            count += 1
        }
        self.digitsPerLimb = count
        self.limbRadix = power
    }

    func encode(_ bytes: [UInt8]) -> String {
        let zeros = bytes.prefix { $0 == 0 }.count
        // The number after the leading zeros, as little-endian limbs in base limbRadix.
        var limbs: [UInt64] = []
        limbs.reserveCapacity((bytes.count - zeros) * 8 / (digitsPerLimb * 5) + 1)
        var index = zeros
        while index < bytes.count {
            let end = min(index + 4, bytes.count)
            var carry: UInt64 = 0
            for byte in bytes[index..<end] {
                carry = carry << 8 | UInt64(byte)
            }
            let multiplier: UInt64 = 1 << UInt64(8 * (end - index))
            index = end
            // limb < limbRadix < 2^32 and carry < 2^32, so limb * 2^32 + carry < 2^64.
            for position in limbs.indices {
                let value = limbs[position] * multiplier + carry
                limbs[position] = value % limbRadix
                carry = value / limbRadix
            }
            while carry > 0 {
                limbs.append(carry % limbRadix)
                carry /= limbRadix
            }
        }
        var number: [UInt8] = []
        number.reserveCapacity(limbs.count * digitsPerLimb)
        for limb in limbs.reversed() {
            var value = limb
            var group = [UInt8](repeating: characters[0], count: digitsPerLimb)
            for position in stride(from: digitsPerLimb - 1, through: 0, by: -1) {
                group[position] = characters[Int(value % radix)]
                value /= radix
            }
            number.append(contentsOf: group)
        }
        // Zero digits at the top of the first limb are padding, not leading zero bytes.
        let padding = number.prefix { $0 == characters[0] }.count
        let text = [UInt8](repeating: characters[0], count: zeros) + number[padding...]
        return String(decoding: text, as: UTF8.self)
    }

    func decode(_ text: String, maxLength: Int) throws(MultiformatError) -> [UInt8] {
        guard text.utf8.count <= maxLength else { throw .inputTooLarge(limit: maxLength) }
        var values: [UInt8] = []
        values.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            guard scalar.value < 128 else { throw .invalidCharacter(Character(scalar), base: name) }
            let digit = digits[Int(scalar.value)]
            guard digit != 0xff else { throw .invalidCharacter(Character(scalar), base: name) }
            values.append(digit)
        }
        let zeros = values.prefix { $0 == 0 }.count
        // The number, as little-endian 32-bit limbs.
        var limbs: [UInt64] = []
        limbs.reserveCapacity(values.count / 4 + 1)
        var index = zeros
        while index < values.count {
            let end = min(index + digitsPerLimb, values.count)
            var carry: UInt64 = 0
            var multiplier: UInt64 = 1
            for digit in values[index..<end] {
                carry = carry * radix + UInt64(digit)
                multiplier *= radix
            }
            index = end
            // limb < 2^32, multiplier <= limbRadix < 2^32, carry < 2^32: no overflow.
            for position in limbs.indices {
                let value = limbs[position] * multiplier + carry
                limbs[position] = value & 0xffff_ffff
                carry = value >> 32
            }
            if carry > 0 {
                limbs.append(carry)
            }
        }
        var bytes = [UInt8](repeating: 0, count: zeros)
        bytes.reserveCapacity(zeros + limbs.count * 4)
        var leading = true
        for limb in limbs.reversed() {
            for shift in stride(from: 24, through: 0, by: -8) {
                let byte = UInt8(truncatingIfNeeded: limb >> UInt64(shift))
                if leading && byte == 0 { continue }
                leading = false
                bytes.append(byte)
            }
        }
        return bytes
    }
}

/// RFC 4648 base32, lower-case alphabet, no padding (multibase prefix `b`).
public enum Base32 {
    static let name = "base32"
    static let alphabet = Array("abcdefghijklmnopqrstuvwxyz234567".utf8)
    static let digits: [UInt8] = {
        var table = [UInt8](repeating: 0xff, count: 128)
        for (value, character) in alphabet.enumerated() {
            table[Int(character)] = UInt8(value)
        }
        return table
    }()

    /// Encodes `bytes` as lower-case base32 without padding.
    public static func encode(_ bytes: [UInt8]) -> String {
        var text: [UInt8] = []
        text.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                text.append(alphabet[Int((buffer >> UInt32(bits)) & 0x1f)])
            }
            buffer &= (1 << UInt32(bits)) - 1
        }
        if bits > 0 {
            text.append(alphabet[Int((buffer << UInt32(5 - bits)) & 0x1f)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Decodes lower-case, unpadded base32.
    ///
    /// - Throws: ``MultiformatError/invalidCharacter(_:base:)`` for anything outside
    ///   `a-z2-7` (including upper case and `=`), ``MultiformatError/invalidBaseEncoding(base:)``
    ///   for a length no byte string encodes to or non-zero trailing bits,
    ///   ``MultiformatError/inputTooLarge(limit:)`` past ``Multibase/maxTextLength``.
    public static func decode(_ text: String) throws(MultiformatError) -> [UInt8] {
        guard text.utf8.count <= Multibase.maxTextLength else {
            throw .inputTooLarge(limit: Multibase.maxTextLength)
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count * 5 / 8)
        var buffer: UInt32 = 0
        var bits = 0
        for scalar in text.unicodeScalars {
            guard scalar.value < 128 else { throw .invalidCharacter(Character(scalar), base: name) }
            let digit = digits[Int(scalar.value)]
            guard digit != 0xff else { throw .invalidCharacter(Character(scalar), base: name) }
            buffer = (buffer << 5) | UInt32(digit)
            bits += 5
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
                buffer &= (1 << UInt32(bits)) - 1
            }
        }
        // A whole leftover character, or set bits in the padding, would give a second text
        // form for the same bytes.
        guard bits < 5, buffer == 0 else { throw .invalidBaseEncoding(base: name) }
        return bytes
    }
}

/// Base36 with the lower-case alphabet `0-9a-z` (multibase prefix `k`), as used for IPNS names
/// and libp2p peer IDs in subdomains.
public enum Base36 {
    static let alphabet = BaseXAlphabet(name: "base36", alphabet: "0123456789abcdefghijklmnopqrstuvwxyz")

    /// Encodes `bytes` as a big-endian base36 number, one leading `0` per leading zero byte.
    public static func encode(_ bytes: [UInt8]) -> String {
        alphabet.encode(bytes)
    }

    /// Decodes lower-case base36; upper case is rejected so each value has one text form.
    ///
    /// - Throws: ``MultiformatError/invalidCharacter(_:base:)``,
    ///   ``MultiformatError/inputTooLarge(limit:)`` past ``Multibase/maxTextLength``.
    public static func decode(_ text: String) throws(MultiformatError) -> [UInt8] {
        try alphabet.decode(text, maxLength: Multibase.maxTextLength)
    }
}
