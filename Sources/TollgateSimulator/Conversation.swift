/// The text of a chat-style request (Chat Completions `messages` or Responses `input`), reduced to what the
/// simulator needs: who said what, how many prompt tokens that is, and what to echo back.
struct Conversation: Sendable {
    /// One message: its role and its text with every text part joined.
    struct Message: Sendable {
        let role: String
        let text: String
    }

    let messages: [Message]

    /// A conversation of messages already read.
    init(messages: [Message]) {
        self.messages = messages
    }

    /// Reads Chat Completions `messages`; nil when it is missing or not a list (OpenAI answers 400 then).
    init?(chatMessages: JSON?) {
        guard let list = chatMessages?.arrayValue else { return nil }
        messages = list.map(Conversation.message)
    }

    /// Reads Responses `input` (a string, or a list of messages/items) plus optional `instructions`.
    init?(responsesInput: JSON?, instructions: String?) {
        var messages: [Message] = []
        if let instructions { messages.append(Message(role: "developer", text: instructions)) }
        switch responsesInput {
        case .string(let text)?: messages.append(Message(role: "user", text: text))
        case .array(let items)?: messages += items.map(Conversation.message)
        default: return nil
        }
        self.messages = messages
    }

    /// Prompt tokens: tokens of every message's text, plus 3 per message and 3 for the reply primer, like
    /// OpenAI's chat format overhead.
    var promptTokens: Int {
        messages.reduce(3) { $0 + 3 + Tokenizer.count($1.text) }
    }

    /// The text the reply echoes: the last user message, else the last message of any role.
    var lastUserText: String {
        (messages.last { $0.role == "user" } ?? messages.last)?.text ?? ""
    }

    /// Parts for `StableID.hash`, so ids depend on the model and the whole conversation.
    func hashParts(model: String) -> [String] {
        [model] + messages.flatMap { [$0.role, $0.text] }
    }

    /// One message (or Responses input item) with its text parts joined by newlines.
    private static func message(_ item: JSON) -> Message {
        Message(role: item["role"]?.stringValue ?? item["type"]?.stringValue ?? "user", text: text(of: item["content"]))
    }

    /// The text of a `content` field: a string, or a list of parts that have `text`.
    static func text(of content: JSON?) -> String {
        switch content {
        case .string(let text)?: return text
        case .array(let parts)?: return parts.compactMap { $0["text"]?.stringValue ?? $0.stringValue }.joined(separator: "\n")
        default: return ""
        }
    }
}
