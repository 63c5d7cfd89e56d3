import Foundation
import Hummingbird

/// POST /v1/embeddings: deterministic unit vectors, as float lists or base64 float32 like OpenAI.
enum Embeddings {
    /// Answers one embeddings request.
    static func respond(_ exchange: Exchange) throws(APIError) -> Response {
        let body = try exchange.jsonObject()
        guard let model = body["model"]?.stringValue else { throw APIError.missing("model") }
        guard let input = body["input"] else { throw APIError.missing("input") }
        let inputs = self.inputs(input)
        let dimensions = body["dimensions"]?.intValue ?? (model.hasSuffix("-large") ? 3072 : 1536)
        guard dimensions > 0 && dimensions <= 8192 else {
            throw APIError(status: 400, message: "Invalid value for 'dimensions'.", type: "invalid_request_error", param: "dimensions")
        }
        let base64 = body["encoding_format"]?.stringValue == "base64"
        let data: [JSON] = inputs.enumerated().map { index, item in
            let vector = self.vector(seed: StableID.value([item.text]), dimensions: dimensions)
            let embedding: JSON = base64 ? .string(encodeBase64(vector)) : .raw(encodeFloats(vector))
            return ["object": "embedding", "index": .int(index), "embedding": embedding]
        }
        let tokens = inputs.reduce(0) { $0 + $1.tokens }
        let reply: JSON = [
            "object": "list", "data": .array(data), "model": .string(model),
            "usage": ["prompt_tokens": .int(tokens), "total_tokens": .int(tokens)],
        ]
        return HTTPReply.json(reply, for: exchange)
    }

    /// Each input to embed: its text (the seed of its vector) and its token count.
    private static func inputs(_ input: JSON) -> [(text: String, tokens: Int)] {
        switch input {
        case .string(let text):
            return [(text, Tokenizer.count(text))]
        case .array(let items) where items.allSatisfy({ $0.intValue != nil }):
            // A single prompt given as token ids.
            return [(input.encoded, items.count)]
        case .array(let items):
            return items.map { item in item.stringValue.map { ($0, Tokenizer.count($0)) } ?? (item.encoded, item.arrayValue?.count ?? 1) }
        default:
            return [(input.encoded, 1)]
        }
    }

    /// A unit-length vector drawn from a SplitMix64 sequence seeded by the input, so equal inputs embed equally.
    static func vector(seed: UInt64, dimensions: Int) -> [Float] {
        var state = seed
        var values = (0..<dimensions).map { _ -> Float in
            state &+= 0x9e37_79b9_7f4a_7c15
            var mixed = state
            mixed = (mixed ^ (mixed >> 30)) &* 0xbf58_476d_1ce4_e5b9
            mixed = (mixed ^ (mixed >> 27)) &* 0x94d0_49bb_1331_11eb
            mixed ^= mixed >> 31
            return Float(mixed >> 40) / Float(1 << 23) - 1
        }
        let norm = values.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > 0 { values = values.map { $0 / norm } }
        return values
    }

    /// The vector as a JSON array of floats; each prints in the shortest form that reads back as the same float32.
    private static func encodeFloats(_ vector: [Float]) -> String {
        "[" + vector.map { "\($0)" }.joined(separator: ",") + "]"
    }

    /// The vector as base64 of little-endian float32s, which is what OpenAI sends for `encoding_format: base64`.
    private static func encodeBase64(_ vector: [Float]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(vector.count * 4)
        for value in vector {
            let bits = value.bitPattern.littleEndian
            withUnsafeBytes(of: bits) { bytes.append(contentsOf: $0) }
        }
        return Data(bytes).base64EncodedString()
    }
}
