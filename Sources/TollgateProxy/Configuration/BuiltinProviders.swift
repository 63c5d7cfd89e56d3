// swift-format-ignore-file
// (the text below must stay byte-identical to providers/openai.yaml; a test checks it)

/// Provider definitions compiled into the binary, so `tollgate serve` works from any directory.
///
/// A file of the same name in the providers folder takes precedence. Each text here is a copy of the file in
/// providers/ (a test keeps them identical).
enum BuiltinProviders {
    /// Definitions by name.
    static let definitions: [String: String] = ["openai": openAI]

    /// providers/openai.yaml
    static let openAI = #"""
# OpenAI — https://platform.openai.com/docs/api-reference
# A provider file describes one upstream: where it is, how its key is sent, which paths are inferences
# (and which API each speaks), and what each model costs. A config entry named `openai` (or `use: openai`)
# starts from this file and overrides what it sets.
description: OpenAI API
wire_format: openai
base_url: https://api.openai.com
auth: bearer
api_key_env: OPENAI_API_KEY
# OpenAI accepts stream_options.include_usage: Tollgate adds it to streams that lack it (and hides the extra
# usage chunk from the client).
stream_options: true
routes:
  - {path: /v1/chat/completions, api: openai.chat}
  - {path: /v1/completions, api: openai.completions}
  - {path: /v1/embeddings, api: openai.embeddings}
  - {path: /v1/responses, api: openai.responses}
# Standard-tier list prices in USD per million tokens. cache_read is the cached-input rate; a dated snapshot
# (gpt-4o-2024-08-06) is priced as its family (gpt-4o) unless listed itself.
currency: USD
prices:
  gpt-5.1: {input: "1.25", cache_read: "0.125", output: "10.00"}
  gpt-5: {input: "1.25", cache_read: "0.125", output: "10.00"}
  gpt-5-mini: {input: "0.25", cache_read: "0.025", output: "2.00"}
  gpt-5-nano: {input: "0.05", cache_read: "0.005", output: "0.40"}
  gpt-5-pro: {input: "15.00", output: "120.00"}
  gpt-5-chat-latest: {input: "1.25", cache_read: "0.125", output: "10.00"}
  gpt-4.1: {input: "2.00", cache_read: "0.50", output: "8.00"}
  gpt-4.1-mini: {input: "0.40", cache_read: "0.10", output: "1.60"}
  gpt-4.1-nano: {input: "0.10", cache_read: "0.025", output: "0.40"}
  gpt-4o: {input: "2.50", cache_read: "1.25", output: "10.00"}
  gpt-4o-2024-05-13: {input: "5.00", output: "15.00"}
  gpt-4o-mini: {input: "0.15", cache_read: "0.075", output: "0.60"}
  gpt-4o-audio-preview: {input: "2.50", output: "10.00", input_audio: "40.00", output_audio: "80.00"}
  gpt-4o-mini-audio-preview: {input: "0.15", output: "0.60", input_audio: "10.00", output_audio: "20.00"}
  o1: {input: "15.00", cache_read: "7.50", output: "60.00"}
  o1-mini: {input: "1.10", cache_read: "0.55", output: "4.40"}
  o1-pro: {input: "150.00", output: "600.00"}
  o3: {input: "2.00", cache_read: "0.50", output: "8.00"}
  o3-mini: {input: "1.10", cache_read: "0.55", output: "4.40"}
  o3-pro: {input: "20.00", output: "80.00"}
  o4-mini: {input: "1.10", cache_read: "0.275", output: "4.40"}
  gpt-4-turbo: {input: "10.00", output: "30.00"}
  gpt-4: {input: "30.00", output: "60.00"}
  gpt-3.5-turbo: {input: "0.50", output: "1.50"}
  gpt-3.5-turbo-instruct: {input: "1.50", output: "2.00"}
  babbage-002: {input: "0.40", output: "0.40"}
  davinci-002: {input: "2.00", output: "2.00"}
  text-embedding-3-small: {input: "0.02"}
  text-embedding-3-large: {input: "0.13"}
  text-embedding-ada-002: {input: "0.10"}

"""#
}
