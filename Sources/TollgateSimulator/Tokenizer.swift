/// The simulator's stand-in for a real tokenizer: deterministic, cheap, and good enough that token counts move
/// with the text. A token is a word (letters, digits, `_`) carrying at most one leading space, or a single
/// punctuation mark carrying at most one leading space, so concatenating a reply's tokens gives back its text.
enum Tokenizer {
    /// Splits `text` into tokens; whitespace runs collapse into the single leading space of the next token.
    static func tokens(_ text: String) -> [String] {
        var tokens: [String] = []
        var word = ""
        var spaceBefore = false
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace {
                if !word.isEmpty { tokens.append(word); word = "" }
                spaceBefore = !tokens.isEmpty
            } else if isWordScalar(scalar) {
                if word.isEmpty && spaceBefore { word = " " }
                spaceBefore = false
                word.unicodeScalars.append(scalar)
            } else {
                if !word.isEmpty { tokens.append(word); word = "" }
                var mark = spaceBefore ? " " : ""
                mark.unicodeScalars.append(scalar)
                tokens.append(mark)
                spaceBefore = false
            }
        }
        if !word.isEmpty { tokens.append(word) }
        return tokens
    }

    /// The number of tokens in `text`, without building them: prompts are only ever counted.
    static func count(_ text: String) -> Int {
        var count = 0
        var inWord = false
        for scalar in text.unicodeScalars {
            if scalar.properties.isWhitespace {
                inWord = false
            } else if isWordScalar(scalar) {
                if !inWord { count += 1 }
                inWord = true
            } else {
                count += 1
                inWord = false
            }
        }
        return count
    }

    /// Whether `scalar` continues a word rather than standing alone as punctuation. Scalars, not Characters:
    /// grapheme breaking would cost more than everything else a request does.
    private static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.isAlphabetic || scalar.properties.numericType != nil || scalar == "_"
    }
}

/// The canned reply every endpoint generates, so direct and proxied calls produce identical bodies.
enum Reply {
    /// How many words of the caller's message the reply echoes.
    static let echoedWords = 12

    /// "Hello! You said: <first 12 words of message>".
    static func text(echoing message: String) -> String {
        let words = message.split(whereSeparator: \.isWhitespace).prefix(echoedWords)
        return words.isEmpty ? "Hello! You said nothing." : "Hello! You said: " + words.joined(separator: " ")
    }
}

/// Stable identifiers derived from request content, so the same request always gets the same id.
enum StableID {
    /// FNV-1a over `parts` (separated so that ["ab","c"] and ["a","bc"] differ), as 16 hex digits.
    static func hash(_ parts: [String]) -> String {
        let hex = String(value(parts), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// FNV-1a over `parts`, each followed by a separator byte.
    static func value(_ parts: [String]) -> UInt64 {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts {
            for byte in part.utf8 {
                value ^= UInt64(byte)
                value &*= 0x0000_0100_0000_01b3
            }
            value ^= 0xff
            value &*= 0x0000_0100_0000_01b3
        }
        return value
    }
}
