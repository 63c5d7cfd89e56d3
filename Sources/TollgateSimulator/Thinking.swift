/// The reasoning a thinking model does before it answers (Anthropic's thinking blocks, Gemini's thoughts): a short
/// text about the caller's message, cut to the request's budget. Its tokens are billed inside the output.
struct Thinking: Sendable {
    /// The reasoning tokens, in order; their concatenation is the thinking text.
    let tokens: [String]

    /// Plans the reasoning about `message` under at most `budget` tokens.
    init(about message: String, budget: Int) {
        let words = message.split(whereSeparator: \.isWhitespace).prefix(Reply.echoedWords)
        let topic = words.isEmpty ? "nothing" : words.joined(separator: " ")
        let text = "The user wrote \"" + topic + "\". I should greet them and repeat what they said, briefly."
        tokens = Array(Tokenizer.tokens(text).prefix(max(0, budget)))
    }

    /// The thinking text.
    var text: String { tokens.joined() }

    /// How many tokens the reasoning took.
    var count: Int { tokens.count }
}
