// swift-tools-version:5.4
// libFuzzer targets for Tollgate's parsers; fuzz/README.md says what each checks, fuzz/run.sh builds and runs them.
//
// Built with `-sanitize=fuzzer,address -parse-as-library`: libFuzzer supplies `main`, each target only defines
// `LLVMFuzzerTestOneInput`. The tools version stays at 5.4 on purpose: from 5.5 on, SwiftPM links an executable
// target's entry point as `<module>_main`, which a fuzz target does not have.
import PackageDescription

let core = Target.Dependency.product(name: "TollgateCore", package: "Tollgate")

func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency] = []) -> Target {
    .executableTarget(name: name, dependencies: ["FuzzSupport", core] + dependencies)
}

let package = Package(
    name: "TollgateFuzz",
    dependencies: [.package(name: "Tollgate", path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [core]),
        fuzzTarget("FuzzJSONScanner"),
        fuzzTarget("FuzzRequestBody"),
        fuzzTarget("FuzzSSEFramer"),
        fuzzTarget("FuzzEventStream"),
        fuzzTarget("FuzzGeminiSplitter"),
        fuzzTarget("FuzzNDJSON"),
        fuzzTarget("FuzzResponseReaders"),
        fuzzTarget("FuzzConfig"),
        // The gateway's content decoders, compiled from its source files (symbolic links to
        // Sources/TollgateGateway/Compression) so that the fuzz build needs neither Hummingbird nor the HTTP client.
        fuzzTarget(
            "FuzzContentDecoders",
            [.product(name: "CZlib", package: "Tollgate"), .product(name: "CBrotli", package: "Tollgate"), "CBrotliEncoder"]),
        .systemLibrary(name: "CBrotliEncoder"),
    ]
)
