#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/<Target>/ from the repository's recorded provider bodies and configs.

Each seed is a target's control bytes (see each target's Fuzz.swift) followed by a recorded body, so the fuzzer
starts from real traffic. Run it again after adding fixtures: python3 fuzz/seeds.py (files are named by content
hash; existing ones are kept).
"""
import glob
import gzip
import hashlib
import json
import os
import re
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
MAX = 16 * 1024  # the longest input run.sh lets the fuzzer write

# The APIs in the order of `fuzzedAPIs` (every declared API, sorted by name).
APIS = sorted(
    set(
        m
        for path in glob.glob(os.path.join(ROOT, "Sources/TollgateCore/WireFormats/*/*Family.swift"))
        for m in re.findall(r'APIName\(declaring: "([^"]+)"\)', open(path).read())
    )
)
CONTENT_TYPES = {  # bits 2-4 of FuzzResponseReaders' flags
    None: 0,
    "text/event-stream": 1,
    "application/json": 2,
    "application/x-ndjson": 3,
    "application/vnd.amazon.eventstream": 4,
}


def write(target, control, body):
    data = bytes(control) + body[: MAX - len(control)]
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as handle:
        handle.write(data)


def cases():
    seen = set()
    for folder in sorted(glob.glob(os.path.join(ROOT, "Tests/TollgateCoreTests/Fixtures/*/*/"))):
        case = json.load(open(os.path.join(folder, "case.json")))
        body = open(os.path.join(folder, "response.body"), "rb").read()
        key = hashlib.sha1(body).hexdigest()
        if key in seen:
            continue
        seen.add(key)
        yield case, body


def main():
    for case, body in cases():
        api = case["api"]
        kind = (case["response"].get("content_type") or "").split(";")[0].strip().lower()
        stream = bool(case.get("stream"))
        request = case["request"].get("body")
        request_bytes = json.dumps(request).encode() if isinstance(request, (dict, list)) else None
        index = APIS.index(api)
        flags = (1 if stream else 0) | (CONTENT_TYPES.get(kind, 0) << 2)
        write("FuzzResponseReaders", [index, flags, 3, 7], body)
        write("FuzzResponseReaders", [index, flags | 2, 1, 9], body)  # as if the proxy had added the usage opt-in
        if request_bytes:
            write("FuzzRequestBody", [index, 1], request_bytes)
            write("FuzzJSONScanner", [0, 2, 5], request_bytes)
        if kind == "text/event-stream":
            write("FuzzSSEFramer", [1, 3, 4], body)
        elif kind == "application/vnd.amazon.eventstream":
            write("FuzzEventStream", [0, 2, 1], body)
            write("FuzzEventStream", [1, 0, 1], body)
        elif kind == "application/x-ndjson" or api.startswith("ollama."):
            write("FuzzNDJSON", [(0 if api == "ollama.chat" else 1) | (0 if stream else 6), 2, 3], body)
        elif kind == "application/json":
            write("FuzzJSONScanner", [0, 3, 1], body)
            if api == "gemini.streamGenerateContent":
                write("FuzzGeminiSplitter", [2, 5, 5], body)
        if len(body) <= 4096:
            write("FuzzContentDecoders", [0, 0, 2], gzip.compress(body, mtime=0))
            write("FuzzContentDecoders", [1, 0, 2], zlib.compress(body))
            raw = zlib.compressobj(wbits=-15)
            write("FuzzContentDecoders", [1, 0, 1], raw.compress(body) + raw.flush())
            write("FuzzContentDecoders", [2 | 4, 5, 3], body)  # br, round trip
    for path in sorted(glob.glob(os.path.join(ROOT, "config/*.yaml"))):
        write("FuzzConfig", [0], open(path, "rb").read())
    for path in sorted(glob.glob(os.path.join(ROOT, "providers/*.yaml"))):
        write("FuzzConfig", [1], open(path, "rb").read())
    for path in sorted(glob.glob(os.path.join(ROOT, "config/price-books/*.yaml"))):
        write("FuzzConfig", [2], open(path, "rb").read())


if __name__ == "__main__":
    main()
