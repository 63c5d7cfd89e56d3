/// Reads JSON numbers exactly, without floating point.
public enum JSONNumber {
    /// The whole number a JSON number denotes, whatever its spelling (`1000`, `1e3`, `1000.0`, `10E+2`), or `nil`
    /// when it has a fraction (`2.5`), is out of range (beyond ±10^15) or is not a JSON number at all.
    ///
    /// A provider's JSON parser reads `1e3` as a thousand; so must the meter that prices the request.
    public static func wholeNumber(_ text: some Collection<UInt8>) -> Int? {
        var bytes = text.makeIterator()
        var current = bytes.next()
        var negative = false
        if current == UInt8(ascii: "-") {
            negative = true
            current = bytes.next()
        }
        var digits: [UInt8] = []
        var integerDigits = 0
        func isDigit(_ byte: UInt8?) -> Bool { byte.map { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } ?? false }
        guard isDigit(current) else { return nil }
        let leadingZero = current == UInt8(ascii: "0")
        while let byte = current, isDigit(byte) {
            digits.append(byte - UInt8(ascii: "0"))
            integerDigits += 1
            current = bytes.next()
        }
        if leadingZero && integerDigits > 1 { return nil }
        var exponent = 0
        if current == UInt8(ascii: ".") {
            current = bytes.next()
            guard isDigit(current) else { return nil }
            while let byte = current, isDigit(byte) {
                digits.append(byte - UInt8(ascii: "0"))
                exponent -= 1
                current = bytes.next()
            }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            current = bytes.next()
            var negativeExponent = false
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") {
                negativeExponent = current == UInt8(ascii: "-")
                current = bytes.next()
            }
            guard isDigit(current) else { return nil }
            var written = 0
            while let byte = current, isDigit(byte) {
                written = min(written * 10 + Int(byte - UInt8(ascii: "0")), 1_000_000)
                current = bytes.next()
            }
            exponent += negativeExponent ? -written : written
        }
        guard current == nil else { return nil }
        // The value is digits × 10^exponent: drop trailing zeros into the exponent, then it must be whole and small.
        while exponent < 0, let last = digits.last, last == 0 {
            digits.removeLast()
            exponent += 1
        }
        while let first = digits.first, first == 0, digits.count > 1 { digits.removeFirst() }
        if digits.allSatisfy({ $0 == 0 }) { return 0 }
        guard exponent >= 0, digits.count + exponent <= 15 else { return nil }
        var value = 0
        for digit in digits { value = value * 10 + Int(digit) }
        for _ in 0..<exponent { value *= 10 }
        return negative ? -value : value
    }
}
