import CoreMetrics
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import ServiceLifecycle
import TollgateAdmin
import TollgateBilling
import TollgateConfiguration
import TollgateCore
import TollgateGateway
import TollgateStore
import TollgateTelemetry

/// Tollgate's server: the proxy listener, the upstream client and the meter writer, run and shut down together.
///
/// SIGTERM or SIGINT: the listener stops accepting, in-flight responses get up to `shutdown_grace_s` to finish
/// (their events are recorded), then the meter writer writes its backlog and the process ends.
struct TollgateServer: Sendable {
    let config: TollgateConfig
    let configPath: String?
    let reloadInterval: Duration
    let logger: Logger

    /// Creates a server for a resolved config; `configPath` (the file it came from, `nil` for the embedded
    /// defaults) is watched, with the provider and price-book folders, so that rate edits apply without a restart.
    init(config: TollgateConfig, configPath: String? = nil, reloadInterval: Duration = .milliseconds(250), logger: Logger) {
        self.config = config
        self.configPath = configPath
        self.reloadInterval = reloadInterval
        self.logger = logger
    }

    /// Runs until a shutdown signal. `onListening` receives the bound port (useful with port 0).
    func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        MeterBounds.maxEventBytes = config.proxy.maxMeterEventBytes
        MeterBounds.maxDecodedBytes = config.proxy.maxMeterDecodedBytes
        // The metrics backend first: components take their metric handles when they are made.
        let metrics = config.metrics.enabled ? MetricsEndpoint.bootstrapOnce() : nil
        if metrics != nil { registerCounters() }
        let traces = try TraceExport.make(config.tracing, environment: ProcessInfo.processInfo.environment, logger: logger)
        let meter = try await openMeter()
        let writer = EventWriter(meter: meter, maxBatch: config.meter.maxBatch, logger: logger)
        let upstream = UpstreamClient(settings: config.proxy)
        let pricing = PricingState(config.pricingRules)
        let admission = AdmissionControl(meter: meter)
        let released = try await admission.start()
        if released > 0 { logger.notice("released \(released) credit reservations left by a process that stopped") }
        // Idempotency keys a stopped process held in flight are free again at once (a retry runs them).
        let freed = try await meter.purgeIdempotencyKeys(nowMs: Timestamps.nowMs())
        if freed > 0 { logger.notice("freed \(freed) expired or orphaned idempotency keys") }
        let limiter = ConcurrencyLimiter(settings: config.proxy)
        let responder = ProxyResponder(
            config: config, routes: RouteResolver(config: config), meter: meter,
            recorder: EventRecorder(
                writer: writer, durability: config.meter.durability, pricing: pricing, admission: admission, logger: logger,
                observer: RequestObserver(
                    metrics: config.metrics, logRequests: config.log.requests, tracing: RequestTracing(tracer: traces?.tracer), logger: logger),
                limiter: limiter),
            admitter: Admitter(control: admission, pricing: pricing, settings: config.credits, limiter: limiter), upstream: upstream,
            logger: logger, limiter: limiter)
        let listener = proxyListener(responder, onListening: onListening)
        let scrape: (@Sendable () async -> String)? = metrics.map { endpoint in
            let state = MetricsEndpoint.ServerState(
                meter: meter, writer: writer, providersUsable: config.providers.values.count(where: \.hasCredentials),
                version: TollgateVersion.current)
            return { await endpoint.exposition(of: state) }
        }
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        // The span exporter first: services stop in reverse order, so it flushes the spans of the last requests.
        if let traces {
            services.append(.init(service: traces.service))
            logger.notice("traces to \(config.tracing.endpoint ?? "the OTEL_EXPORTER_OTLP_ENDPOINT collector")")
        }
        services += [
            .init(service: EventWriterService(writer: writer, upstream: upstream)),
            .init(service: listener),
            .init(service: PricingReloader(configPath: configPath, state: pricing, loaded: config, interval: reloadInterval, logger: logger)),
            .init(service: AdmissionHeartbeat(admission: admission, logger: logger, replicaTimeout: config.meter.replicaTimeoutSeconds)),
            .init(
                service: WebhookSender(
                    meter: meter, settings: config.alerts,
                    lease: FleetLease(meter: meter, name: "alerts", holder: admission.instanceID, ttl: .seconds(30), logger: logger),
                    logger: logger)),
            .init(service: TrueUpScheduler(meter: meter, rules: { pricing.rules }, logger: logger)),
            .init(service: AccountWatch(meter: meter, settings: config.alerts, logger: logger)),
        ]
        if let admin = adminApplication(meter: meter, pricing: pricing, metrics: scrape) { services.append(.init(service: admin)) }
        if let scrape, let address = config.metrics.listen { services.append(.init(service: metricsApplication(address, scrape: scrape))) }
        if let interval = config.export.intervalSeconds {
            let names = config.export.sinks ?? config.sinks.keys.sorted()
            let exporters = names.compactMap { name in
                config.sinks[name].map { Exporter(meter: meter, sink: SinkFactory.make($0), rules: { pricing.rules }, logger: logger) }
            }
            let continuous = config.export.continuousSeconds
            let live = names.filter { config.sinks[$0]?.takesUsageContinuously == true }
            let inProgress = continuous.map { live.isEmpty ? "" : "; usage in progress every \($0) s to \(live.joined(separator: ", "))" } ?? ""
            logger.notice("export every \(interval) s to \(names.joined(separator: ", "))\(inProgress)")
            services.append(
                .init(
                    service: ExportScheduler(
                        exporters: exporters, interval: .milliseconds(Int64(interval * 1000)),
                        continuous: continuous.map { .milliseconds(Int64($0 * 1000)) },
                        lease: FleetLease(
                            meter: meter, name: "export", holder: admission.instanceID,
                            ttl: FleetLease.ttl(every: .milliseconds(Int64(min(interval, continuous ?? interval) * 1000))), logger: logger),
                        logger: logger)))
        }
        var configuration = ServiceGroupConfiguration(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        configuration.maximumGracefulShutdownDuration = .milliseconds(Int64(config.proxy.shutdownGraceSeconds * 1000))
        try await ServiceGroup(configuration: configuration).run()
    }
}

extension TollgateServer {
    /// The meter; a PostgreSQL server that does not answer yet (a replica starting beside its database) is waited
    /// for up to a minute, a line logged per attempt. A SQLite file opens or fails at once.
    func openMeter() async throws -> MeterStore {
        var attempt = 1
        while true {
            do {
                return try MeterStore(config.meter)
            } catch {
                // Waited for: no answer at all, or "the database system is starting up" (57P03). A server that answers
                // with another error (a wrong password, a missing database) fails at once.
                guard config.meter.url != nil, attempt < 30, case .cannotOpen(_, let reason) = error,
                    !reason.contains("SQLSTATE") || reason.contains("SQLSTATE 57P03")
                else { throw error }
                logger.warning("the meter cannot be reached yet; trying again in 2 s", metadata: ["attempt": "\(attempt)", "error": "\(error)"])
                attempt += 1
                try await Task.sleep(for: .seconds(2))
            }
        }
    }

    /// The proxy listener (``ProxyListener``: NIO's codec and a ``ProxyConnection`` per connection, no task per
    /// connection), with the connection cap, the header-read timeout (`proxy.header_read_timeout_s`) and the idle
    /// timeout (`proxy.idle_timeout_s`) on every connection; 0 turns either off.
    func proxyListener(_ responder: ProxyResponder, onListening: @escaping @Sendable (Int) async -> Void) -> ProxyListener {
        let headerTimeout = config.proxy.headerReadTimeoutSeconds
        let idle = config.proxy.idleTimeoutSeconds
        return ProxyListener(
            host: config.listen.host, port: config.listen.port, maxConnections: connectionCap(), responder: responder,
            headerReadTimeout: headerTimeout > 0 ? .nanoseconds(Int64(headerTimeout * 1_000_000_000)) : nil,
            idleTimeout: idle > 0 ? .nanoseconds(Int64(idle * 1_000_000_000)) : nil, logger: logger, onListening: onListening)
    }

    /// The cap on open proxy connections: `proxy.max_connections`, at most the file-descriptor limit (raised to its
    /// hard limit first) less 256 for the meter, the upstream connections and the admin listener.
    func connectionCap() -> Int {
        let descriptors = FileDescriptorLimit.raise()
        let cap = min(config.proxy.maxConnections, max(64, descriptors - 256))
        if cap < config.proxy.maxConnections {
            logger.notice(
                "proxy.max_connections lowered to \(cap): the file-descriptor limit is \(descriptors) (raise it with ulimit -n)")
        }
        return cap
    }

    /// The admin listener (API, OpenAPI document, finance dashboard), when the config has `admin.listen`.
    func adminApplication(meter: MeterStore, pricing: PricingState, metrics: (@Sendable () async -> String)?) -> (any Service)? {
        guard let address = config.admin.listen, let token = config.admin.token else { return nil }
        let unit = config.credits.unitName.flatMap { name in config.credits.unitValue.map { (name: name, value: $0) } }
        let sessions = DashboardSessionSettings(config.admin)
        let api = AdminAPI(
            meter: meter, token: token, currency: config.pricing.currency, creditUnit: unit, logger: logger, sessions: sessions, metrics: metrics,
            rules: { pricing.rules })
        let router = api.makeRouter()
        Dashboard(meter: meter, token: token, currency: config.pricing.currency, logger: logger, rules: { pricing.rules }, sessions: sessions)
            .addRoutes(to: router)
        return Application(
            responder: router.buildResponder(), configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { [logger] channel in logger.notice("admin API listening on http://\(address.host):\(channel.localAddress?.port ?? 0)")
            },
            logger: logger)
    }
}

extension TollgateServer {
    /// Registers the counters that otherwise appear only with their first increment, at zero: `increase()` and alert
    /// rules then see that first one too.
    func registerCounters() {
        for name in [MetricName.configReloads, MetricName.configReloadFailures] { Counter(label: name).increment(by: 0) }
        for outcome in ["sent", "failed"] { Counter(label: MetricName.alerts, dimensions: [("outcome", outcome)]).increment(by: 0) }
        for sink in config.export.sinks ?? config.sinks.keys.sorted() {
            for name in [MetricName.exportSent, MetricName.exportFailures] { Counter(label: name, dimensions: [("sink", sink)]).increment(by: 0) }
        }
    }

    /// `metrics.listen`: a listener serving only `GET /metrics`, without authentication, for a scraper that should not
    /// reach the admin API.
    func metricsApplication(_ address: ListenAddress, scrape: @escaping @Sendable () async -> String) -> any Service {
        let router = Router()
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: MetricsEndpoint.contentType, .cacheControl: "no-store"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: await scrape())))
        }
        return Application(
            router: router, configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { [logger] channel in
                logger.notice("metrics on http://\(address.host):\(channel.localAddress?.port ?? 0)/metrics")
            },
            logger: logger)
    }
}

/// Runs the meter writer for as long as the server; on shutdown (after the listener has stopped) writes the
/// backlog, then closes the upstream client.
struct EventWriterService: Service, CustomStringConvertible {
    var description: String { "EventWriter" }
    let writer: EventWriter
    let upstream: UpstreamClient

    func run() async throws {
        await withGracefulShutdownHandler {
            await withTaskCancellationHandler {
                await writer.run()
            } onCancel: {
                writer.close()
            }
        } onGracefulShutdown: {
            writer.close()
        }
        await upstream.shutdown()
    }
}

/// Keeps this process's registration fresh, releases the holds of replicas that stopped without settling them, and
/// purges idempotency keys that expired.
struct AdmissionHeartbeat: Service, CustomStringConvertible {
    var description: String { "AdmissionHeartbeat" }
    let admission: AdmissionControl
    let logger: Logger
    /// How old a replica's heartbeat may be before its holds are released (`meter.replica_timeout_s`).
    let replicaTimeout: Double
    /// A third of the timeout, at most 10 s.
    var interval: Duration { .milliseconds(Int64(min(replicaTimeout / 3, 10) * 1000)) }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                do {
                    try await admission.heartbeat()
                    let released = try await admission.releaseOrphans(staleAfterMs: Int64(replicaTimeout * 1000))
                    if released > 0 { logger.notice("released \(released) credit reservations of a replica that stopped") }
                    // Idempotency keys past their window, and those a stopped replica held in flight.
                    try await admission.meter.purgeIdempotencyKeys(nowMs: Timestamps.nowMs())
                } catch {
                    logger.error("admission heartbeat failed", metadata: ["error": "\(error)"])
                }
            }
        }
        await admission.stop()
    }
}
