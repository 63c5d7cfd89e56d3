import TollgateCore

/// One time bucket of the revenue, cost and margin chart.
struct ChartPoint: Sendable, Equatable {
    /// The bucket's label as the margin report writes it (`2026-11-21T10:00:00Z`, `2026-11-21`, `2026-11`).
    var label: String
    var revenue: Money
    var cost: Money

    var margin: Money { revenue - cost }
}

/// Draws the revenue, cost and margin chart as inline SVG, computed on the server: no script, nothing fetched.
///
/// Revenue and cost are lines, the margin bars (red below zero). Coordinates come from the exact amounts with integer
/// arithmetic (tenths of a pixel); the axis ticks are round amounts. Each bucket is a `<g class="bucket">` carrying
/// its exact figures in `data-label`, `data-revenue`, `data-cost` and `data-margin`, with a `<title>` the browser shows
/// on hover.
struct SVGChart {
    let points: [ChartPoint]
    let currency: String
    /// What a bucket is (`hour`, `day`, `month`), for the accessible name.
    let grain: String
    var width = 1280
    var height = 260

    private let left = 84
    private let right = 16
    private let top = 28
    private let bottom = 34

    private var plotWidth: Int { width - left - right }
    private var plotHeight: Int { height - top - bottom }

    /// The chart's markup.
    var svg: HTML {
        let (low, high, step) = axis()
        let span = max(high - low, 1)
        /// The y of an amount, in tenths of a pixel.
        func y(_ raw: Int128) -> Int {
            let offset = (high - raw) * Int128(plotHeight * 10) / span
            return top * 10 + Int(offset)
        }
        let count = max(points.count, 1)
        /// The x of a bucket's centre, in tenths of a pixel.
        func x(_ index: Int) -> Int { left * 10 + (2 * index + 1) * plotWidth * 10 / (2 * count) }
        let band = plotWidth * 10 / count

        var grid: [HTML] = []
        var tick = low
        while tick <= high {
            let position = Self.pixels(y(tick))
            grid.append(
                """
                <line class="grid\(tick == 0 ? " zero" : "")" x1="\(left)" x2="\(width - right)" y1="\(position)" y2="\(position)"/>\
                <text class="tick" x="\(left - 6)" y="\(position)" dy="0.32em" text-anchor="end">\(Money(raw: tick).description)</text>
                """)
            tick += step
        }

        let labelEvery = max(1, (points.count + 11) / 12)
        var buckets: [HTML] = []
        for (index, point) in points.enumerated() {
            let centre = x(index)
            let zero = y(0)
            let marginY = y(point.margin.raw)
            let barWidth = min(band * 6 / 10, 240)
            let barTop = min(zero, marginY)
            let barHeight = max(abs(zero - marginY), point.margin == .zero ? 0 : 5)
            let title =
                "\(point.label): revenue \(point.revenue.description) \(currency), cost \(point.cost.description) \(currency), "
                + "margin \(point.margin.description) \(currency)"
            var label = HTML.empty
            if index % labelEvery == 0 {
                label =
                    "<text class=\"tick\" x=\"\(Self.pixels(centre))\" y=\"\(height - bottom + 16)\" text-anchor=\"middle\">\(Self.shortLabel(point.label))</text>"
            }
            buckets.append(
                """
                <g class="bucket" data-label="\(point.label)" data-revenue="\(point.revenue.description)" data-cost="\(point.cost.description)" \
                data-margin="\(point.margin.description)"><title>\(title)</title>\
                <rect class="hover" x="\(Self.pixels(centre - band / 2))" y="\(top)" width="\(Self.pixels(band))" height="\(plotHeight)"/>\
                <rect class="margin\(point.margin.isNegative ? " negative" : "")" x="\(Self.pixels(centre - barWidth / 2))" \
                y="\(Self.pixels(barTop))" width="\(Self.pixels(barWidth))" height="\(Self.pixels(barHeight))"/>\(label)</g>
                """)
        }

        func line(_ name: String, _ value: (ChartPoint) -> Money) -> HTML {
            let coordinates = points.enumerated().map { index, point in "\(Self.pixels(x(index))),\(Self.pixels(y(value(point).raw)))" }
            let dots: [HTML] =
                points.count <= 62
                ? points.enumerated().map { index, point in
                    "<circle class=\"\(name)\" cx=\"\(Self.pixels(x(index)))\" cy=\"\(Self.pixels(y(value(point).raw)))\" r=\"2.5\"/>"
                } : []
            return "<polyline class=\"\(name)\" points=\"\(coordinates.joined(separator: " "))\"/>\(dots)"
        }

        let legendX = width - right - 330
        return """
            <svg class="chart" viewBox="0 0 \(width) \(height)" width="100%" preserveAspectRatio="xMidYMid meet" role="img" \
            aria-label="Revenue, cost and margin by \(grain), \(currency)" xmlns="http://www.w3.org/2000/svg">\
            <g class="axis">\(grid)</g>\
            <line class="axis-line" x1="\(left)" x2="\(left)" y1="\(top)" y2="\(height - bottom)"/>\
            <g class="buckets">\(buckets)</g>\
            \(line("revenue") { $0.revenue })\(line("cost") { $0.cost })\
            <g class="legend" transform="translate(\(legendX),6)">\
            <line class="revenue" x1="0" x2="18" y1="8" y2="8"/><text x="24" y="12">revenue</text>\
            <line class="cost" x1="96" x2="114" y1="8" y2="8"/><text x="120" y="12">cost</text>\
            <rect class="margin" x="176" y="2" width="12" height="12"/><text x="194" y="12">margin</text>\
            <text x="262" y="12" class="tick">\(currency)</text></g>\
            </svg>
            """
    }

    /// The axis: lowest and highest tick and the step between ticks, in raw money units; zero is always inside.
    func axis() -> (low: Int128, high: Int128, step: Int128) {
        var high: Int128 = 0
        var low: Int128 = 0
        for point in points {
            high = max(high, point.revenue.raw, point.cost.raw, point.margin.raw)
            low = min(low, point.revenue.raw, point.cost.raw, point.margin.raw)
        }
        if high == low { high = low + Money.scale }  // nothing yet: an axis from 0 to 1
        let step = Self.niceStep((high - low + 3) / 4)
        let top = (high + step - 1) / step * step
        let bottom = low >= 0 ? 0 : -((-low + step - 1) / step * step)
        return (bottom, top, step)
    }

    /// The smallest of 1, 2 and 5 times a power of ten that is at least `target` (and at least 1).
    static func niceStep(_ target: Int128) -> Int128 {
        var power: Int128 = 1
        while power * 10 <= target { power *= 10 }
        for multiple: Int128 in [1, 2, 5, 10] where power * multiple >= target { return power * multiple }
        return power * 10
    }

    /// Tenths of a pixel written as pixels (`123.4`).
    static func pixels(_ tenths: Int) -> String {
        let sign = tenths < 0 ? "-" : ""
        let magnitude = abs(tenths)
        return magnitude % 10 == 0 ? "\(sign)\(magnitude / 10)" : "\(sign)\(magnitude / 10).\(magnitude % 10)"
    }

    /// An axis label: `10:00` for an hour (`11-21 00:00` at midnight), `11-21` for a day, the month as it is.
    static func shortLabel(_ label: String) -> String {
        if label.count >= 19, label.contains("T") {  // 2026-11-21T10:00:00Z
            let date = label.dropFirst(5).prefix(5)
            let time = label.dropFirst(11).prefix(5)
            return time == "00:00" ? "\(date) \(time)" : String(time)
        }
        if label.count == 10 { return String(label.dropFirst(5)) }
        return label
    }
}
