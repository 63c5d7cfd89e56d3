import CoreMetrics
import Foundation
import Logging
import ServiceLifecycle
import TollgateCore
import UnixSignals

/// Applies edits of the config, provider and price-book files to new requests without a restart.
///
/// Every `interval` it compares the files' sizes and modification times (and the folders' listings) with the last
/// look; on a change that has held for one more look, or on SIGHUP, it loads the whole config again. A config that
/// loads replaces the pricing rules (catalogs, price books, customers' terms) at once; one that does not is refused
/// with its `FILE:LINE` message in the log and the rules in force stay. Settings that only a restart can change
/// (listen address, meter, providers' addresses) are reported, not applied.
public struct PricingReloader: Service {
    let configPath: String?
    let state: PricingState
    let loaded: TollgateConfig
    let interval: Duration
    let logger: Logger

    /// Creates a reloader of the files behind `loaded` (read from `configPath`, `nil` for the embedded defaults).
    public init(configPath: String?, state: PricingState, loaded: TollgateConfig, interval: Duration, logger: Logger) {
        self.configPath = configPath
        self.state = state
        self.loaded = loaded
        self.interval = interval
        self.logger = logger
    }

    /// Watches until graceful shutdown.
    public func run() async throws {
        // The list of files is worked out again only when one of them (or a folder's listing) changes, so a tick
        // costs a few stat calls.
        var sources = ConfigFiles.sources(path: configPath)
        var watch = ChangeWatch(read: Self.fingerprint(sources))
        var applied = loaded
        let signals = await UnixSignalsSequence(trapping: .sighup)
        let (ticks, continuation) = AsyncStream.makeStream(of: Bool.self, bufferingPolicy: .bufferingNewest(1))
        let interval = self.interval
        let hangups = Task {
            for await _ in signals { continuation.yield(true) }
        }
        let timer = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: interval)
                continuation.yield(false)
            }
        }
        await withGracefulShutdownHandler {
            for await forced in ticks {
                guard forced || watch.settled(Self.fingerprint(sources)) else { continue }
                sources = ConfigFiles.sources(path: configPath)
                watch = ChangeWatch(read: Self.fingerprint(sources))
                reload(reason: forced ? "SIGHUP" : "files changed", applied: &applied)
            }
        } onGracefulShutdown: {
            continuation.finish()
        }
        hangups.cancel()
        timer.cancel()
        continuation.finish()
    }

    private func reload(reason: String, applied: inout TollgateConfig) {
        do {
            let fresh = try ConfigFiles.load(path: configPath)
            state.replace(fresh.pricingRules)
            Counter(label: MetricName.configReloads).increment()
            logger.notice(
                "pricing reloaded (\(reason))",
                metadata: [
                    "catalogs": "\(fresh.providers.count)", "price_books": "\(fresh.pricing.priceBooks.keys.sorted().joined(separator: ","))",
                    "customers": "\(fresh.pricing.customers.count)",
                ])
            let restartOnly = Self.restartOnlyChanges(from: applied, to: fresh)
            if !restartOnly.isEmpty {
                logger.warning("settings changed that apply only after a restart: \(restartOnly.joined(separator: ", "))")
            }
            applied = fresh
        } catch {
            state.reloadRefused(error.description)
            Counter(label: MetricName.configReloadFailures).increment()
            logger.error("rate change refused, the rates in force stay: \(error.description)")
        }
    }

    static func restartOnlyChanges(from old: TollgateConfig, to new: TollgateConfig) -> [String] {
        var changed: [String] = []
        if old.listen != new.listen { changed.append("listen") }
        if old.meter != new.meter { changed.append("meter") }
        if old.proxy != new.proxy { changed.append("proxy") }
        if old.log != new.log { changed.append("log") }
        if old.metrics != new.metrics { changed.append("metrics") }
        if old.tracing != new.tracing { changed.append("tracing") }
        if old.defaultProvider != new.defaultProvider { changed.append("default_provider") }
        if old.modelAliases != new.modelAliases { changed.append("models") }
        let routing = { (config: TollgateConfig) in
            config.providers.mapValues { "\($0.baseURL) \($0.auth) \($0.apiKey ?? "") \($0.routes.count) \($0.acceptsStreamUsageOption)" }
        }
        if routing(old) != routing(new) { changed.append("providers (addresses, keys, routes)") }
        return changed
    }

    /// Whether the watched files changed since they were read, and have stopped changing: a change is acted on at the
    /// second look that sees it unchanged. A file written in place (truncated, then written: `cp`, `>` in a shell,
    /// many editors) is then never read half-written — an empty config is a valid one, on the embedded defaults, so a
    /// truncated file read mid-write would apply the defaults' rates until the next look.
    struct ChangeWatch {
        /// The stamps when the files were last read.
        let read: [FileStamp]
        /// A change seen at the last look, not yet acted on.
        var seen: [FileStamp]? = nil

        init(read: [FileStamp]) { self.read = read }

        /// Takes a look: true when the files differ from what was read and are as the last look saw them.
        mutating func settled(_ now: [FileStamp]) -> Bool {
            if now == read {
                seen = nil
                return false
            }
            defer { seen = now }
            return now == seen
        }
    }

    /// What a tick compares of one file: whether it exists, its size, modification time and inode (a file replaced by
    /// a rename has a new one).
    struct FileStamp: Equatable {
        var path: String
        var exists = false
        var size: Int64 = 0
        var modifiedSeconds: Int = 0
        var modifiedNanoseconds: Int = 0
        var inode: UInt64 = 0
    }

    /// The stamps of the files. A plain `stat` each: Foundation's `attributesOfItem` also reads extended attributes
    /// and looks the owner up in `/etc/passwd` and `/etc/group`, two file opens per path and tick, on an event loop.
    static func fingerprint(_ paths: [String]) -> [FileStamp] {
        paths.map { path in
            var stamp = FileStamp(path: path)
            var info = stat()
            guard stat(path, &info) == 0 else { return stamp }
            stamp.exists = true
            stamp.size = Int64(info.st_size)
            stamp.modifiedSeconds = Int(info.st_mtim.tv_sec)
            stamp.modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
            stamp.inode = UInt64(info.st_ino)
            return stamp
        }
    }
}

extension PricingReloader: CustomStringConvertible {
    /// How the service is named in logs (never its settings, which hold secrets).
    public var description: String { "PricingReloader" }
}
