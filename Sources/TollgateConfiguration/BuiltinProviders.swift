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
  - {path: /v1/images/generations, api: openai.images}
  - {path: /v1/images/edits, api: openai.image_edits}
  - {path: /v1/audio/speech, api: openai.speech}
  - {path: /v1/audio/transcriptions, api: openai.transcriptions}
  - {path: /v1/audio/translations, api: openai.translations}
  - {path: /v1/moderations, api: openai.moderations}
# Standard-tier list prices in USD per million tokens. cache_read is the cached-input rate; a dated snapshot
# (gpt-4o-2024-08-06) is priced as its family (gpt-4o) unless listed itself.
# Limits (max_input_tokens, max_output_tokens), long-context rates, cache_write (prompt-cache writes, billed by
# the newest models) and the batch / flex / priority / ultrafast tier rates are from the price table of
# LiteLLM 1.106.2 as of November 2026, like the rates of models added then: check them against
# https://platform.openai.com/docs/pricing before billing on them. Above 272,000 prompt tokens the newest
# models bill the whole request at their long-context rates.
currency: USD
prices:
  # GPT-6
  gpt-6.1-sol:
    input: "2.00"
    cache_read: "0.10"
    cache_write: "2.50"
    output: "10.00"
    max_input_tokens: 922000
    max_output_tokens: 128000
    long_context:
      - {above: 272000, input: "4.00", cache_read: "0.20", cache_write: "5.00", output: "15.00"}
    tiers:
      batch: {input: "1.00", cache_read: "0.05", cache_write: "1.25", output: "5.00",
        long_context: [{above: 272000, input: "2.00", cache_read: "0.10", cache_write: "2.50", output: "7.50"}]}
      flex: {input: "1.00", cache_read: "0.05", cache_write: "1.25", output: "5.00",
        long_context: [{above: 272000, input: "2.00", cache_read: "0.10", cache_write: "2.50", output: "7.50"}]}
      priority: {input: "4.00", cache_read: "0.20", cache_write: "5.00", output: "20.00",
        long_context: [{above: 272000, input: "8.00", cache_read: "0.40", cache_write: "10.00", output: "30.00"}]}
      ultrafast: {input: "12.00", cache_read: "0.60", cache_write: "15.00", output: "60.00",
        long_context: [{above: 272000, input: "24.00", cache_read: "1.20", cache_write: "30.00", output: "90.00"}]}
  gpt-6-astra:
    input: "10.00"
    cache_read: "1.00"
    cache_write: "12.50"
    output: "50.00"
    max_input_tokens: 922000
    max_output_tokens: 128000
    long_context:
      - {above: 272000, input: "20.00", cache_read: "2.00", cache_write: "25.00", output: "75.00"}
    tiers:
      batch: {input: "5.00", cache_read: "0.50", cache_write: "6.25", output: "25.00",
        long_context: [{above: 272000, input: "10.00", cache_read: "1.00", cache_write: "12.50", output: "37.50"}]}
      flex: {input: "5.00", cache_read: "0.50", cache_write: "6.25", output: "25.00",
        long_context: [{above: 272000, input: "10.00", cache_read: "1.00", cache_write: "12.50", output: "37.50"}]}
      priority: {input: "20.00", cache_read: "2.00", cache_write: "25.00", output: "100.00",
        long_context: [{above: 272000, input: "40.00", cache_read: "4.00", cache_write: "50.00", output: "150.00"}]}
      ultrafast: {input: "60.00", cache_read: "6.00", cache_write: "75.00", output: "300.00",
        long_context: [{above: 272000, input: "120.00", cache_read: "12.00", cache_write: "150.00", output: "450.00"}]}
  gpt-6-sol:
    input: "2.00"
    cache_read: "0.20"
    cache_write: "2.50"
    output: "10.00"
    max_input_tokens: 922000
    max_output_tokens: 128000
    long_context:
      - {above: 272000, input: "4.00", cache_read: "0.40", cache_write: "5.00", output: "15.00"}
    tiers:
      batch: {input: "1.00", cache_read: "0.10", cache_write: "1.25", output: "5.00",
        long_context: [{above: 272000, input: "2.00", cache_read: "0.20", cache_write: "2.50", output: "7.50"}]}
      flex: {input: "1.00", cache_read: "0.10", cache_write: "1.25", output: "5.00",
        long_context: [{above: 272000, input: "2.00", cache_read: "0.20", cache_write: "2.50", output: "7.50"}]}
      priority: {input: "4.00", cache_read: "0.40", cache_write: "5.00", output: "20.00",
        long_context: [{above: 272000, input: "8.00", cache_read: "0.80", cache_write: "10.00", output: "30.00"}]}
  gpt-6-luna:
    input: "0.10"
    cache_read: "0.01"
    cache_write: "0.125"
    output: "0.50"
    max_input_tokens: 922000
    max_output_tokens: 128000
    long_context:
      - {above: 272000, input: "0.20", cache_read: "0.02", cache_write: "0.25", output: "0.75"}
    tiers:
      batch: {input: "0.05", cache_read: "0.005", cache_write: "0.0625", output: "0.25",
        long_context: [{above: 272000, input: "0.10", cache_read: "0.01", cache_write: "0.125", output: "0.375"}]}
      flex: {input: "0.05", cache_read: "0.005", cache_write: "0.0625", output: "0.25",
        long_context: [{above: 272000, input: "0.10", cache_read: "0.01", cache_write: "0.125", output: "0.375"}]}
      priority: {input: "0.20", cache_read: "0.02", cache_write: "0.25", output: "1.00",
        long_context: [{above: 272000, input: "0.40", cache_read: "0.04", cache_write: "0.50", output: "1.50"}]}
  # GPT-5.x
  gpt-5.6:
    input: "4.00"
    cache_read: "0.40"
    cache_write: "5.00"
    output: "20.00"
    max_input_tokens: 922000
    max_output_tokens: 128000
    long_context:
      - {above: 272000, input: "8.00", cache_read: "0.80", cache_write: "10.00", output: "30.00"}
    tiers:
      batch: {input: "2.00", cache_read: "0.20", cache_write: "2.50", output: "10.00",
        long_context: [{above: 272000, input: "4.00", cache_read: "0.40", cache_write: "5.00", output: "15.00"}]}
      flex: {input: "2.00", cache_read: "0.20", cache_write: "2.50", output: "10.00",
        long_context: [{above: 272000, input: "4.00", cache_read: "0.40", cache_write: "5.00", output: "15.00"}]}
      priority: {input: "8.00", cache_read: "0.80", cache_write: "10.00", output: "40.00",
        long_context: [{above: 272000, input: "16.00", cache_read: "1.60", cache_write: "20.00", output: "60.00"}]}
  gpt-5.6-sol:
    input: "4.00"
    cache_read: "0.40"
    cache_write: "5.00"
    output: "20.00"
    max_input_tokens: 922000
    max_output_tokens: 128000
    long_context:
      - {above: 272000, input: "8.00", cache_read: "0.80", cache_write: "10.00", output: "30.00"}
    tiers:
      batch: {input: "2.00", cache_read: "0.20", cache_write: "2.50", output: "10.00",
        long_context: [{above: 272000, input: "4.00", cache_read: "0.40", cache_write: "5.00", output: "15.00"}]}
      flex: {input: "2.00", cache_read: "0.20", cache_write: "2.50", output: "10.00",
        long_context: [{above: 272000, input: "4.00", cache_read: "0.40", cache_write: "5.00", output: "15.00"}]}
      priority: {input: "8.00", cache_read: "0.80", cache_write: "10.00", output: "40.00",
        long_context: [{above: 272000, input: "16.00", cache_read: "1.60", cache_write: "20.00", output: "60.00"}]}
  gpt-5.6-terra:
    input: "2.00"
    cache_read: "0.20"
    cache_write: "2.50"
    output: "12.00"
    max_input_tokens: 922000
    max_output_tokens: 128000
    long_context:
      - {above: 272000, input: "4.00", cache_read: "0.40", cache_write: "5.00", output: "18.00"}
    tiers:
      batch: {input: "1.00", cache_read: "0.10", cache_write: "1.25", output: "6.00",
        long_context: [{above: 272000, input: "2.00", cache_read: "0.20", cache_write: "2.50", output: "9.00"}]}
      flex: {input: "1.00", cache_read: "0.10", cache_write: "1.25", output: "6.00",
        long_context: [{above: 272000, input: "2.00", cache_read: "0.20", cache_write: "2.50", output: "9.00"}]}
      priority: {input: "4.00", cache_read: "0.40", cache_write: "5.00", output: "24.00",
        long_context: [{above: 272000, input: "8.00", cache_read: "0.80", cache_write: "10.00", output: "36.00"}]}
  gpt-5.6-luna:
    input: "0.20"
    cache_read: "0.02"
    cache_write: "0.25"
    output: "1.20"
    max_input_tokens: 922000
    max_output_tokens: 128000
    long_context:
      - {above: 272000, input: "0.40", cache_read: "0.04", cache_write: "0.50", output: "1.80"}
    tiers:
      batch: {input: "0.10", cache_read: "0.01", cache_write: "0.125", output: "0.60",
        long_context: [{above: 272000, input: "0.20", cache_read: "0.02", cache_write: "0.25", output: "0.90"}]}
      flex: {input: "0.10", cache_read: "0.01", cache_write: "0.125", output: "0.60",
        long_context: [{above: 272000, input: "0.20", cache_read: "0.02", cache_write: "0.25", output: "0.90"}]}
      priority: {input: "0.40", cache_read: "0.04", cache_write: "0.50", output: "2.40",
        long_context: [{above: 272000, input: "0.80", cache_read: "0.08", cache_write: "1.00", output: "3.60"}]}
  gpt-5.6-cyber:
    input: "12.50"
    cache_read: "1.25"
    cache_write: "15.625"
    output: "75.00"
    max_input_tokens: 400000
    max_output_tokens: 128000
    long_context:
      - {above: 272000, input: "25.00", cache_read: "2.50", cache_write: "31.25", output: "112.50"}
  gpt-5.5:
    input: "5.00"
    cache_read: "0.50"
    output: "30.00"
    max_input_tokens: 1050000
    max_output_tokens: 128000
    long_context:
      - {above: 272000, input: "10.00", cache_read: "1.00", output: "45.00"}
    tiers:
      batch: {input: "2.50", cache_read: "0.25", output: "15.00",
        long_context: [{above: 272000, input: "5.00", cache_read: "0.50", output: "22.50"}]}
      flex: {input: "2.50", cache_read: "0.25", output: "15.00",
        long_context: [{above: 272000, input: "5.00", cache_read: "0.50", output: "22.50"}]}
      priority: {input: "12.50", cache_read: "1.25", output: "75.00"}
  gpt-5.5-pro:
    input: "30.00"
    output: "180.00"
    max_input_tokens: 1050000
    max_output_tokens: 128000
    long_context:
      - {above: 272000, input: "60.00", output: "270.00"}
    tiers:
      batch: {input: "15.00", output: "90.00",
        long_context: [{above: 272000, input: "30.00", output: "135.00"}]}
      flex: {input: "15.00", output: "90.00"}
  gpt-5.5-cyber: {input: "12.50", cache_read: "1.25", output: "75.00"}
  gpt-5.4:
    input: "2.50"
    cache_read: "0.25"
    output: "15.00"
    max_input_tokens: 1050000
    max_output_tokens: 128000
    long_context:
      - {above: 272000, input: "5.00", cache_read: "0.50", output: "22.50"}
    tiers:
      batch: {input: "1.25", cache_read: "0.125", output: "7.50",
        long_context: [{above: 272000, input: "2.50", cache_read: "0.25", output: "11.25"}]}
      flex: {input: "1.25", cache_read: "0.125", output: "7.50",
        long_context: [{above: 272000, input: "2.50", cache_read: "0.25", output: "11.25"}]}
      priority: {input: "5.00", cache_read: "0.50", output: "30.00"}
  gpt-5.4-pro:
    input: "30.00"
    output: "180.00"
    max_input_tokens: 1050000
    max_output_tokens: 128000
    long_context:
      - {above: 272000, input: "60.00", output: "270.00"}
    tiers:
      batch: {input: "15.00", output: "90.00",
        long_context: [{above: 272000, input: "30.00", output: "135.00"}]}
      flex: {input: "15.00", output: "90.00",
        long_context: [{above: 272000, input: "30.00", output: "135.00"}]}
  gpt-5.4-mini:
    input: "0.75"
    cache_read: "0.075"
    output: "4.50"
    max_input_tokens: 272000
    max_output_tokens: 128000
    tiers:
      batch: {input: "0.375", cache_read: "0.0375", output: "2.25"}
      flex: {input: "0.375", cache_read: "0.0375", output: "2.25"}
      priority: {input: "1.50", cache_read: "0.15", output: "9.00"}
  gpt-5.4-nano:
    input: "0.20"
    cache_read: "0.02"
    output: "1.25"
    max_input_tokens: 272000
    max_output_tokens: 128000
    tiers:
      batch: {input: "0.10", cache_read: "0.01", output: "0.625"}
      flex: {input: "0.10", cache_read: "0.01", output: "0.625"}
  gpt-5.3-codex:
    input: "1.75"
    cache_read: "0.175"
    output: "14.00"
    max_input_tokens: 272000
    max_output_tokens: 128000
    tiers:
      priority: {input: "3.50", cache_read: "0.35", output: "28.00"}
  gpt-5.3-chat-latest: {input: "1.75", cache_read: "0.175", output: "14.00", max_input_tokens: 128000, max_output_tokens: 16384}
  gpt-5.2:
    input: "1.75"
    cache_read: "0.175"
    output: "14.00"
    max_input_tokens: 272000
    max_output_tokens: 128000
    tiers:
      batch: {input: "0.875", cache_read: "0.0875", output: "7.00"}
      flex: {input: "0.875", cache_read: "0.0875", output: "7.00"}
      priority: {input: "3.50", cache_read: "0.35", output: "28.00"}
  gpt-5.2-pro:
    input: "21.00"
    output: "168.00"
    max_input_tokens: 272000
    max_output_tokens: 128000
    tiers:
      batch: {input: "10.50", output: "84.00"}
  gpt-5.1:
    input: "1.25"
    cache_read: "0.125"
    output: "10.00"
    max_input_tokens: 272000
    max_output_tokens: 128000
    tiers:
      batch: {input: "0.625", cache_read: "0.0625", output: "5.00"}
      flex: {input: "0.625", cache_read: "0.0625", output: "5.00"}
      priority: {input: "2.50", cache_read: "0.25", output: "20.00"}
  gpt-5.1-codex: {input: "1.25", cache_read: "0.125", output: "10.00", max_input_tokens: 400000, max_output_tokens: 128000}
  gpt-5.1-codex-max: {input: "1.25", cache_read: "0.125", output: "10.00", max_input_tokens: 400000, max_output_tokens: 128000}
  gpt-5.1-codex-mini: {input: "0.25", cache_read: "0.025", output: "2.00", max_input_tokens: 400000, max_output_tokens: 128000}
  gpt-5.1-chat-latest: {input: "1.25", cache_read: "0.125", output: "10.00", max_input_tokens: 128000, max_output_tokens: 16384}
  gpt-5:
    input: "1.25"
    cache_read: "0.125"
    output: "10.00"
    max_input_tokens: 272000
    max_output_tokens: 128000
    tiers:
      batch: {input: "0.625", cache_read: "0.0625", output: "5.00"}
      flex: {input: "0.625", cache_read: "0.0625", output: "5.00"}
      priority: {input: "2.50", cache_read: "0.25", output: "20.00"}
  gpt-5-mini:
    input: "0.25"
    cache_read: "0.025"
    output: "2.00"
    max_input_tokens: 272000
    max_output_tokens: 128000
    tiers:
      batch: {input: "0.125", cache_read: "0.0125", output: "1.00"}
      flex: {input: "0.125", cache_read: "0.0125", output: "1.00"}
      priority: {input: "0.45", cache_read: "0.045", output: "3.60"}
  gpt-5-nano:
    input: "0.05"
    cache_read: "0.005"
    output: "0.40"
    max_input_tokens: 272000
    max_output_tokens: 128000
    tiers:
      batch: {input: "0.025", cache_read: "0.0025", output: "0.20"}
      flex: {input: "0.025", cache_read: "0.0025", output: "0.20"}
  gpt-5-pro:
    input: "15.00"
    output: "120.00"
    max_input_tokens: 400000
    max_output_tokens: 272000
    tiers:
      batch: {input: "7.50", output: "60.00"}
  gpt-5-chat-latest: {input: "1.25", cache_read: "0.125", output: "10.00", max_input_tokens: 128000, max_output_tokens: 16384}
  gpt-5-search-api: {input: "1.25", cache_read: "0.125", output: "10.00", max_input_tokens: 272000, max_output_tokens: 128000}
  chat-latest: {input: "5.00", cache_read: "0.50", output: "30.00", max_input_tokens: 400000, max_output_tokens: 128000}
  # GPT-4.1 and GPT-4o
  gpt-4.1:
    input: "2.00"
    cache_read: "0.50"
    output: "8.00"
    max_input_tokens: 1047576
    max_output_tokens: 32768
    tiers:
      batch: {input: "1.00", output: "4.00"}
      priority: {input: "3.50", cache_read: "0.875", output: "14.00"}
  gpt-4.1-mini:
    input: "0.40"
    cache_read: "0.10"
    output: "1.60"
    max_input_tokens: 1047576
    max_output_tokens: 32768
    tiers:
      batch: {input: "0.20", output: "0.80"}
      priority: {input: "0.70", cache_read: "0.175", output: "2.80"}
  gpt-4.1-nano:
    input: "0.10"
    cache_read: "0.025"
    output: "0.40"
    max_input_tokens: 1047576
    max_output_tokens: 32768
    tiers:
      batch: {input: "0.05", output: "0.20"}
      priority: {input: "0.20", cache_read: "0.05", output: "0.80"}
  gpt-4o:
    input: "2.50"
    cache_read: "1.25"
    output: "10.00"
    max_input_tokens: 128000
    max_output_tokens: 16384
    tiers:
      batch: {input: "1.25", output: "5.00"}
      priority: {input: "4.25", cache_read: "2.125", output: "17.00"}
  gpt-4o-2024-05-13:
    input: "5.00"
    output: "15.00"
    max_input_tokens: 128000
    max_output_tokens: 4096
    tiers:
      batch: {input: "2.50", output: "7.50"}
      priority: {input: "8.75", output: "26.25"}
  gpt-4o-mini:
    input: "0.15"
    cache_read: "0.075"
    output: "0.60"
    max_input_tokens: 128000
    max_output_tokens: 16384
    tiers:
      batch: {input: "0.075", output: "0.30"}
      priority: {input: "0.25", cache_read: "0.125", output: "1.00"}
  # Audio in and out (Chat Completions)
  gpt-audio-1.5: {input: "2.50", output: "10.00", input_audio: "32.00", output_audio: "64.00", max_input_tokens: 128000, max_output_tokens: 16384}
  gpt-audio: {input: "2.50", output: "10.00", input_audio: "32.00", output_audio: "64.00", max_input_tokens: 128000, max_output_tokens: 16384}
  gpt-audio-mini: {input: "0.60", output: "2.40", input_audio: "10.00", output_audio: "20.00", max_input_tokens: 128000, max_output_tokens: 16384}
  gpt-4o-audio-preview: {input: "2.50", output: "10.00", input_audio: "40.00", output_audio: "80.00", max_input_tokens: 128000, max_output_tokens: 16384}
  gpt-4o-mini-audio-preview: {input: "0.15", output: "0.60", input_audio: "10.00", output_audio: "20.00", max_input_tokens: 128000, max_output_tokens: 16384}
  # o-series reasoning models
  o1:
    input: "15.00"
    cache_read: "7.50"
    output: "60.00"
    max_input_tokens: 200000
    max_output_tokens: 100000
    tiers:
      batch: {input: "7.50", output: "30.00"}
  o1-mini: {input: "1.10", cache_read: "0.55", output: "4.40"}
  o1-pro:
    input: "150.00"
    output: "600.00"
    max_input_tokens: 200000
    max_output_tokens: 100000
    tiers:
      batch: {input: "75.00", output: "300.00"}
  o3:
    input: "2.00"
    cache_read: "0.50"
    output: "8.00"
    max_input_tokens: 200000
    max_output_tokens: 100000
    tiers:
      batch: {input: "1.00", output: "4.00"}
      flex: {input: "1.00", cache_read: "0.25", output: "4.00"}
      priority: {input: "3.50", cache_read: "0.875", output: "14.00"}
  o3-deep-research: {input: "10.00", cache_read: "2.50", output: "40.00", max_input_tokens: 200000, max_output_tokens: 100000}
  o3-mini:
    input: "1.10"
    cache_read: "0.55"
    output: "4.40"
    max_input_tokens: 200000
    max_output_tokens: 100000
    tiers:
      batch: {input: "0.55", output: "2.20"}
  o3-pro:
    input: "20.00"
    output: "80.00"
    max_input_tokens: 200000
    max_output_tokens: 100000
    tiers:
      batch: {input: "10.00", output: "40.00"}
  o4-mini:
    input: "1.10"
    cache_read: "0.275"
    output: "4.40"
    max_input_tokens: 200000
    max_output_tokens: 100000
    tiers:
      batch: {input: "0.55", output: "2.20"}
      flex: {input: "0.55", cache_read: "0.1375", output: "2.20"}
      priority: {input: "2.00", cache_read: "0.50", output: "8.00"}
  o4-mini-deep-research: {input: "2.00", cache_read: "0.50", output: "8.00", max_input_tokens: 200000, max_output_tokens: 100000}
  # Older models
  gpt-4-turbo: {input: "10.00", output: "30.00", max_input_tokens: 128000, max_output_tokens: 4096}
  gpt-4-1106-preview: {input: "10.00", output: "30.00", max_input_tokens: 128000, max_output_tokens: 4096}
  gpt-4: {input: "30.00", output: "60.00", max_input_tokens: 8192, max_output_tokens: 4096}
  gpt-3.5-turbo: {input: "0.50", output: "1.50", max_input_tokens: 16385, max_output_tokens: 4096}
  gpt-3.5-turbo-1106: {input: "1.00", output: "2.00", max_input_tokens: 16385, max_output_tokens: 4096}
  gpt-3.5-turbo-16k: {input: "3.00", output: "4.00", max_input_tokens: 16385, max_output_tokens: 4096}
  gpt-3.5-turbo-instruct: {input: "1.50", output: "2.00", max_input_tokens: 8192, max_output_tokens: 4096}
  babbage-002:
    input: "0.40"
    output: "0.40"
    max_input_tokens: 16384
    max_output_tokens: 4096
    tiers:
      batch: {input: "0.20", output: "0.20"}
  davinci-002:
    input: "2.00"
    output: "2.00"
    max_input_tokens: 16384
    max_output_tokens: 4096
    tiers:
      batch: {input: "1.00", output: "1.00"}
  # Embeddings
  text-embedding-3-small:
    input: "0.02"
    max_input_tokens: 8191
    tiers:
      batch: {input: "0.01"}
  text-embedding-3-large:
    input: "0.13"
    max_input_tokens: 8191
    tiers:
      batch: {input: "0.065"}
  text-embedding-ada-002:
    input: "0.10"
    max_input_tokens: 8191
    tiers:
      batch: {input: "0.05"}
  # Images. DALL·E answers report no usage: each image in the answer is billed per image (`image`: the model's
  # default size and quality; `images`: by QUALITY/SIZE, SIZE or QUALITY). gpt-image-1 reports tokens: text and
  # image input, image output (max_output_tokens: per image, the largest high-quality image, for worst cases).
  dall-e-2:
    image: "0.020"
    images: {"256x256": "0.016", "512x512": "0.018", "1024x1024": "0.020"}
  dall-e-3:
    image: "0.040"
    images:
      "1024x1024": "0.040"
      "1024x1792": "0.080"
      "1792x1024": "0.080"
      "hd": "0.080"
      "hd/1024x1024": "0.080"
      "hd/1024x1792": "0.120"
      "hd/1792x1024": "0.120"
  gpt-image-1:
    input: "5.00"
    cache_read: "1.25"
    input_image: "10.00"
    output: "40.00"
    max_output_tokens: 6240
  # Text to speech: per character of `input` (tts-1 $15, tts-1-hd $30 per million characters). gpt-4o-mini-tts is
  # billed by OpenAI per token ($0.60 text in, $12 audio out per million), which its answer does not report: its
  # characters are priced at OpenAI's published estimate of $0.015 a minute, tts-1's rate.
  tts-1: {input_character: "0.000015"}
  tts-1-hd: {input_character: "0.00003"}
  gpt-4o-mini-tts: {input_character: "0.000015"}
  # Speech to text. whisper-1: per second of audio ($0.006 a minute). The gpt-4o transcribe models report tokens
  # (audio input at input_audio); `audio_second` is OpenAI's published per-minute estimate ($0.006, $0.003), used
  # only when an answer reports no usage (text, srt, vtt) and the duration is estimated from the file's size.
  whisper-1: {audio_second: "0.0001"}
  gpt-4o-transcribe:
    input: "2.50"
    input_audio: "6.00"
    output: "10.00"
    audio_second: "0.0001"
    max_output_tokens: 2000
  gpt-4o-mini-transcribe:
    input: "1.25"
    input_audio: "3.00"
    output: "5.00"
    audio_second: "0.00005"
    max_output_tokens: 2000
  # Moderation: free; each call is an event priced at zero.
  omni-moderation-latest: {input: "0"}
  omni-moderation-*: {input: "0"}
  text-moderation-latest: {input: "0"}
  text-moderation-*: {input: "0"}

"""#
}
