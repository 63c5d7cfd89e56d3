import TollgateCore

/// The sink a config entry describes.
public enum SinkFactory {
    /// The sink for `settings`.
    public static func make(_ settings: SinkSettings) -> any BillingSink {
        switch settings.kind {
        case .stripe: StripeSink(settings: settings)
        case .lago: LagoSink(settings: settings)
        case .openmeter: OpenMeterSink(settings: settings)
        case .metronome: MetronomeSink(settings: settings)
        case .orb: OrbSink(settings: settings)
        case .csv, .jsonl, .focus: FileSink(settings: settings)
        }
    }
}
