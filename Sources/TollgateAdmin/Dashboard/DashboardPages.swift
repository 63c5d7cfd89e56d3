import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import TollgateBilling
import TollgateCore
import TollgateStore

/// The dashboard's pages as HTML: a layout (header with the ranges, the time of the figures and sign-out), the
/// overview, a customer's page, its events, the login form and error pages.
///
/// Tables name what they hold for tests and scripts: `id` on each table, `data-customer` / `data-model` on rows,
/// `data-field` on figures and the exact decimal of every amount in `data-value` (the text may be rounded; in tables
/// it is the exact decimal too).
enum DashboardPages {
    /// Seconds between the pages' own refreshes.
    static let refreshSeconds = 60

    /// The headers of every dashboard response: HTML, never cached, never framed, and a content security policy
    /// that allows nothing but the page's own inline styles (there is no script, and nothing is fetched).
    static let headers: HTTPFields = [
        .contentType: "text/html; charset=utf-8",
        .cacheControl: "no-store",
        .contentSecurityPolicy:
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        .xContentTypeOptions: "nosniff",
        HTTPField.Name("Referrer-Policy")!: "no-referrer",
    ]

    /// A page as a response.
    static func response(_ page: HTML, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: page.description)))
    }

    // MARK: Layout

    /// A whole page: `title`, the header (with the range links when `range` is given), then `content`.
    static func layout(
        title: String, content: HTML, nowMs: Int64?, range: DashboardRange? = nil, path: String = DashboardSession.root, signedIn: Bool = true,
        refresh: Bool = true
    ) -> HTML {
        var header: HTML = "<a class=\"brand\" href=\"/dashboard\">Tollgate · finance</a>"
        if let range {
            let presets = DashboardRange.presets.map { preset -> HTML in
                let active = range.preset == preset
                return
                    "<a href=\"\(DashboardURL.make(path, [("range", preset)]))\"\(HTML(markup: active ? " class=\"active\" aria-current=\"page\"" : ""))>\(preset)</a>"
            }
            let from = Timestamps.date(of: range.fromMs)
            let to = range.toMs.map(Timestamps.date(of:)) ?? ""
            header += """
                <nav class="ranges" aria-label="Time range">\(presets)</nav>\
                <form class="custom" method="get" action="\(path)"><label>from <input type="date" name="from" value="\(from)" required></label>\
                <label>to <input type="date" name="to" value="\(to)"></label><button type="submit">Apply</button></form>\
                <span class="covers">\(range.title)</span>
                """
        }
        header += "<span class=\"spacer\"></span>"
        if let nowMs {
            header +=
                "<span class=\"updated\">updated at <time datetime=\"\(Timestamps.iso8601(nowMs))\" id=\"updated-at\">\(Figures.time(nowMs))</time>\(HTML(markup: refresh ? " · refreshes every \(refreshSeconds) s" : ""))</span>"
        }
        if signedIn {
            header += "<form method=\"post\" action=\"\(DashboardSession.logoutPath)\"><button type=\"submit\" class=\"link\">Log out</button></form>"
        }
        let meta: HTML = refresh ? "<meta http-equiv=\"refresh\" content=\"\(refreshSeconds)\">" : .empty
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">\(meta)
            <title>\(title) · Tollgate</title><link rel="icon" href="data:,"><style>\(HTML(markup: stylesheet))</style></head>
            <body><header>\(header)</header><main>\(content)</main></body></html>
            """
    }

    static let stylesheet = """
        :root{--bg:#f5f6f8;--card:#fff;--ink:#1d2330;--muted:#5f6b7c;--line:#e3e6eb;--rev:#2563eb;--cost:#ea580c;--margin:#16a34a;--neg:#dc2626}
        *{box-sizing:border-box}
        body{margin:0;font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;background:var(--bg);color:var(--ink)}
        a{color:#1d4ed8}
        header{background:#111827;color:#e5e7eb;padding:8px 20px;display:flex;align-items:center;gap:14px;flex-wrap:wrap}
        header a{color:#cbd5e1;text-decoration:none}header .brand{font-weight:600;color:#fff;font-size:14px}
        .ranges{display:flex;gap:2px}.ranges a{padding:2px 8px;border-radius:4px}.ranges a.active{background:#374151;color:#fff}
        header form{display:flex;gap:6px;align-items:center;margin:0}header input{font:inherit;padding:1px 4px}
        header button,main button{font:inherit;padding:2px 10px;cursor:pointer}
        button.link{background:none;border:0;color:#cbd5e1;padding:0;text-decoration:underline}
        .covers,.updated{color:#9ca3af}.spacer{flex:1}
        main{max-width:1326px;margin:0 auto;padding:12px 20px 28px}
        h1{font-size:18px;margin:4px 0 10px}h1 small{font-weight:400;color:var(--muted);font-size:13px;margin-left:8px}
        .tiles{display:grid;grid-template-columns:repeat(5,1fr);gap:12px;margin-bottom:12px}
        .tile{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:8px 14px}
        .tile .label{color:var(--muted);font-size:11px;text-transform:uppercase;letter-spacing:.05em}
        .tile .value{font-size:22px;font-weight:600;font-variant-numeric:tabular-nums;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
        .tile .sub{color:var(--muted);font-size:12px}
        .card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 14px;margin-bottom:12px;overflow-x:auto}
        .card h2{font-size:14px;margin:0 0 6px}.card h2 small{font-weight:400;color:var(--muted);margin-left:6px}
        .grid2{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,1fr);gap:12px}.grid32{display:grid;grid-template-columns:minmax(0,3fr) minmax(0,2fr);gap:12px}
        table{border-collapse:collapse;width:100%}
        th,td{padding:3px 8px;border-bottom:1px solid var(--line);text-align:left;white-space:nowrap}
        th{font-size:12px;color:var(--muted);font-weight:600}th a{color:inherit;text-decoration:none}th a:hover{text-decoration:underline}
        td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
        td.name{max-width:260px;overflow:hidden;text-overflow:ellipsis}td.id{font-size:12px}
        tfoot td{font-weight:600;border-top:2px solid var(--line);border-bottom:0}
        .neg{color:var(--neg)}.muted,.note{color:var(--muted)}.note{font-size:12px;margin:6px 0 0}
        .bar{background:#edf0f5;border-radius:3px;height:8px;width:100px;overflow:hidden;display:inline-block;vertical-align:middle}
        .bar span{display:block;height:100%;background:var(--rev)}.bar.warn span{background:#f59e0b}.bar.over span{background:var(--neg)}
        .links{display:flex;gap:14px;margin:0 0 10px}
        svg.chart{display:block;max-height:300px}svg.chart text{font-size:11px;fill:var(--muted)}
        svg.chart .grid{stroke:var(--line)}svg.chart .grid.zero{stroke:#98a2b3}svg.chart .axis-line{stroke:#98a2b3}
        svg.chart polyline{fill:none;stroke-width:2}svg.chart .revenue{stroke:var(--rev);fill:var(--rev)}
        svg.chart polyline.revenue,svg.chart polyline.cost{fill:none}svg.chart .cost{stroke:var(--cost);fill:var(--cost)}
        svg.chart line.revenue,svg.chart line.cost{stroke-width:2}
        svg.chart rect.margin{fill:var(--margin);opacity:.75}svg.chart rect.margin.negative{fill:var(--neg)}
        svg.chart rect.hover{fill:transparent}svg.chart .bucket:hover rect.hover{fill:rgba(17,24,39,.05)}
        details summary{cursor:pointer;color:var(--muted);font-size:12px;margin-top:4px}
        .login{max-width:380px;margin:80px auto;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:20px 24px}
        .login input{width:100%;font:inherit;padding:6px 8px;margin:6px 0 12px}.error{color:var(--neg)}
        .pager{display:flex;gap:16px;margin-top:8px}
        """

    // MARK: Login and errors

    /// The login form; `error` says why the last attempt failed.
    static func login(error: String?, next: String?) -> HTML {
        let message: HTML = error.map { "<p class=\"error\" role=\"alert\">\($0)</p>" } ?? .empty
        let nextField: HTML =
            next.flatMap(DashboardSession.safeReturnPath).map { "<input type=\"hidden\" name=\"next\" value=\"\($0)\">" } ?? .empty
        let content: HTML = """
            <form class="login" method="post" action="\(DashboardSession.loginPath)">
            <h1>Tollgate finance dashboard</h1>\(message)
            <label for="token">Admin token</label>
            <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>\(nextField)
            <button type="submit">Sign in</button>
            <p class="note">The token is the admin listener's (<code>admin.token</code>). The browser keeps a signed session cookie, never \
            the token itself; it expires, and Log out revokes it.</p>
            </form>
            """
        return layout(title: "Sign in", content: content, nowMs: nil, signedIn: false, refresh: false)
    }

    /// An error page.
    static func error(_ error: DashboardError, nowMs: Int64) -> HTML {
        let content: HTML = """
            <div class="card"><h1>\(error.status.code == 404 ? "Not found" : error.status.code >= 500 ? "Something went wrong" : "Cannot show that")</h1>\
            <p class="error">\(error.message)</p><p><a href="/dashboard">Back to the overview</a></p></div>
            """
        return layout(title: "Error", content: content, nowMs: nowMs, refresh: false)
    }

    // MARK: Overview

    static func overview(_ data: OverviewData) -> HTML {
        let path = DashboardSession.root
        let main = Dashboard.mainCurrencies(data.totals, pricing: data.currency)
        let inMain = { (row: MarginRow) in row.currency == main.revenue && row.costCurrency == main.cost }
        let topCustomers = TableOrder.byRevenue.sorted(data.customers.filter(inMain)) { $0.group[.customer] ?? "" }
        let topModels = TableOrder.byRevenue.sorted(data.models.filter(inMain)) { $0.group[.model] ?? "" }
        let customerRange = data.range.query
        var content: HTML = tiles(data.totals, currency: data.currency)
        content += chartCard(data.series, range: data.range, currency: main.revenue, otherCurrencies: data.otherCurrencies)
        content += """
            <div class="grid2">\
            \(topList(id: "top-customers", title: "Top customers by revenue", rows: topCustomers, dimension: .customer, range: customerRange))\
            \(topList(id: "top-models", title: "Top models by revenue", rows: topModels, dimension: .model, range: nil))\
            </div>
            """
        content += marginTable(
            id: "margin-by-customer", title: "Margin by customer", rows: data.customers, totals: data.totals, dimension: .customer,
            order: data.order, path: path, range: data.range)
        content += capsCard(data.caps, currency: data.currency) + accountsCard(data.accounts, leftOut: data.accountsLeftOut)
        return layout(title: "Overview", content: content, nowMs: data.nowMs, range: data.range, path: path)
    }

    // MARK: Customer

    static func customer(_ data: CustomerData) -> HTML {
        let path = DashboardURL.customer(data.id)
        let month = Timestamps.monthName(of: data.nowMs)
        let previous = Timestamps.monthName(of: (Timestamps.month(month)?.startMs ?? data.nowMs) - 1)
        var subtitle: [String] = []
        if let name = data.record?.name, !name.isEmpty { subtitle.append(name) }
        if let team = data.record?.team { subtitle.append("team \(team)") }
        if data.record == nil { subtitle.append("no customer record (events only)") }
        var content: HTML = """
            <h1>\(data.id)<small>\(subtitle.joined(separator: " · "))</small></h1>
            <div class="links"><a href="/dashboard">← Overview</a><a id="events-link" href="\(DashboardURL.events(data.id))">Events</a>\
            <a id="statement-link" href="\(DashboardURL.statement(data.id, period: month))">Statement \(month)</a>\
            <a href="\(DashboardURL.statement(data.id, period: previous))">Statement \(previous)</a></div>
            """
        content += tiles(data.totals, currency: data.currency)
        let main = Dashboard.mainCurrencies(data.totals, pricing: data.currency)
        content += chartCard(data.series, range: data.range, currency: main.revenue, otherCurrencies: data.otherCurrencies)
        content += marginTable(
            id: "margin-by-model", title: "By model", rows: data.models, totals: data.totals, dimension: .model, order: data.order, path: path,
            range: data.range)
        content += """
            <div class="grid32">\(capsCard(data.caps, currency: data.currency))\
            \(balanceCard(data.account, nowMs: data.nowMs))</div>
            """
        return layout(title: data.id, content: content, nowMs: data.nowMs, range: data.range, path: path)
    }

    // MARK: Events

    static func events(_ data: EventsData) -> HTML {
        let rows = data.events.map { event -> HTML in
            let model = event.model ?? event.servedModel ?? ""
            let served: HTML =
                event.servedModel.map { $0 != model ? "<br><span class=\"muted\">served \($0)</span>" : .empty } ?? .empty
            let tokens =
                "\(Figures.count(event.usage.inputTokens)) in · \(Figures.count(event.usage.cacheReadTokens)) cached · \(Figures.count(event.usage.outputTokens)) out"
            var flags: [String] = []
            if event.estimated { flags.append("estimated") }
            if !event.priced { flags.append("unpriced") }
            if event.stream { flags.append("stream") }
            let note = ([event.note].compactMap { $0 } + flags).joined(separator: " · ")
            return """
                <tr data-event="\(event.id)"><td>\(Figures.time(event.timestampMs))</td><td class="id">\(event.id)</td>\
                <td>\(model)\(served)</td><td class="num\(HTML(markup: event.status >= 400 ? " neg" : ""))">\(event.status)</td><td class="num">\(tokens)</td>\
                \(moneyCell(event.cost, field: "cost", currency: event.currency))\(moneyCell(event.price, field: "price", currency: event.effectivePriceCurrency))\
                <td class="note-cell">\(note)</td></tr>
                """
        }
        var pager: [HTML] = []
        if data.paged { pager.append("<a href=\"\(DashboardURL.events(data.id))\">← Newest</a>") }
        if let older = data.older {
            pager.append("<a id=\"older\" href=\"\(DashboardURL.make(DashboardURL.events(data.id), [("before", older)]))\">Older →</a>")
        }
        let body: HTML =
            rows.isEmpty
            ? "<tr><td colspan=\"8\" class=\"muted\">No events\(HTML(markup: data.paged ? " older than that" : "")).</td></tr>" : HTML(joining: rows)
        let content: HTML = """
            <h1>\(data.id)<small>events, newest first</small></h1>
            <div class="links"><a href="/dashboard">← Overview</a><a href="\(DashboardURL.customer(data.id))">\(data.id)</a></div>
            <div class="card"><table id="events"><thead><tr><th>Time (UTC)</th><th>Event id</th><th>Model</th><th class="num">Status</th>\
            <th class="num">Tokens</th><th class="num">Cost</th><th class="num">Price</th><th>Note</th></tr></thead>
            <tbody>\(body)</tbody></table><div class="pager">\(pager)</div></div>
            """
        return layout(title: "\(data.id) events", content: content, nowMs: data.nowMs, path: DashboardURL.events(data.id))
    }

    // MARK: Pieces

    /// An amount as a table cell: the exact decimal as text and in `data-value`, red when negative.
    static func moneyCell(_ amount: Money, field: String, currency: String? = nil) -> HTML {
        let title: HTML = currency.map { " title=\"\(amount.description) \($0)\"" } ?? .empty
        return
            "<td class=\"num\(HTML(markup: amount.isNegative ? " neg" : ""))\" data-field=\"\(field)\" data-value=\"\(amount.description)\"\(title)>\(amount.description)</td>"
    }

    /// A count as a table cell.
    static func countCell(_ number: Int, field: String) -> HTML {
        "<td class=\"num\" data-field=\"\(field)\" data-value=\"\(number)\">\(Figures.count(number))</td>"
    }

    /// The KPI tiles: revenue, cost, margin, margin % and requests, one row per currency pair.
    static func tiles(_ totals: [MarginRow], currency: String) -> HTML {
        let rows = totals.isEmpty ? [MarginRow(group: [:], currency: currency, costCurrency: currency, totals: Totals())] : totals
        return HTML(
            joining: rows.map { row -> HTML in
                let same = row.currency == row.costCurrency
                let caption = same ? row.currency : "\(row.currency), cost in \(row.costCurrency)"
                func tile(_ label: String, _ field: String, _ amount: Money?, _ unit: String) -> HTML {
                    guard let amount else {
                        return "<div class=\"tile\" data-field=\"\(field)\"><div class=\"label\">\(label)</div><div class=\"value\">—</div></div>"
                    }
                    return """
                        <div class="tile" data-field="\(field)" data-currency="\(unit)" data-value="\(amount.description)" title="\(amount.description) \(unit)">\
                        <div class="label">\(label)</div><div class="value\(HTML(markup: amount.isNegative ? " neg" : ""))">\(Figures.tile(amount))</div>\
                        <div class="sub">\(unit)</div></div>
                        """
                }
                let percent = same ? row.totals.marginPercent : nil
                return """
                    <section class="tiles" aria-label="Totals in \(caption)">\
                    \(tile("Revenue", "revenue", row.totals.revenue, row.currency))\(tile("Cost", "cost", row.totals.cost, row.costCurrency))\
                    \(tile("Margin", "margin", same ? row.totals.margin : nil, row.currency))\
                    <div class="tile" data-field="margin_pct" data-value="\(percent ?? "")"><div class="label">Margin %</div>\
                    <div class="value\(HTML(markup: percent?.hasPrefix("-") == true ? " neg" : ""))">\(Figures.percent(percent))</div>\
                    <div class="sub">of revenue</div></div>\
                    <div class="tile" data-field="requests" data-value="\(row.totals.requests)"><div class="label">Requests</div>\
                    <div class="value">\(Figures.count(row.totals.requests))</div><div class="sub">\(Figures.count(row.totals.errors)) errors</div></div>\
                    </section>
                    """
            })
    }

    /// The chart card, with its figures in a table under a disclosure.
    static func chartCard(_ series: [ChartPoint], range: DashboardRange, currency: String, otherCurrencies: Bool) -> HTML {
        let chart = SVGChart(points: series, currency: currency, grain: range.grain.rawValue)
        let rows = series.reversed().map { point -> HTML in
            "<tr data-bucket=\"\(point.label)\"><td>\(point.label)</td>\(moneyCell(point.revenue, field: "revenue"))\(moneyCell(point.cost, field: "cost"))\(moneyCell(point.margin, field: "margin"))</tr>"
        }
        let note: HTML =
            otherCurrencies
            ? "<p class=\"note\">Rows in other currencies are left out of the chart and the top lists; the tables show them.</p>" : .empty
        return """
            <section class="card" id="chart"><h2>Revenue, cost and margin by \(range.grain.rawValue)<small>\(currency) · \(range.title)</small></h2>\
            \(chart.svg)\(note)<details><summary>Figures by \(range.grain.rawValue)</summary><table id="series"><thead><tr><th>\(range.grain.rawValue)</th>\
            <th class="num">Revenue</th><th class="num">Cost</th><th class="num">Margin</th></tr></thead><tbody>\(rows)</tbody></table></details></section>
            """
    }

    /// A top-ten list by revenue, with a bar of each row's share of the first.
    static func topList(id: String, title: String, rows: [MarginRow], dimension: ReportDimension, range: [(String, String?)]?) -> HTML {
        let top = Array(rows.prefix(10))
        let largest = top.first?.totals.revenue.raw ?? 0
        let lines = top.map { row -> HTML in
            let name = row.group[dimension] ?? ""
            let label: HTML =
                if let range, dimension == .customer {
                    "<a href=\"\(DashboardURL.make(DashboardURL.customer(name), range))\">\(name)</a>"
                } else {
                    HTML(text: name.isEmpty ? "(none)" : name)
                }
            let width = Figures.tenths(min(max(Figures.shareTenths(row.totals.revenue.raw, of: largest), 0), 1000))
            return """
                <tr data-\(dimension.rawValue)="\(name)"><td class="name" title="\(name)">\(label)</td>\
                <td><span class="bar"><span style="width:\(width)%"></span></span></td>\
                \(moneyCell(row.totals.revenue, field: "revenue"))\(moneyCell(row.totals.margin, field: "margin"))\
                \(countCell(row.totals.requests, field: "requests"))</tr>
                """
        }
        let body: HTML = lines.isEmpty ? "<tr><td colspan=\"5\" class=\"muted\">No requests in this range.</td></tr>" : HTML(joining: lines)
        return """
            <section class="card"><h2>\(title)</h2><table id="\(id)"><thead><tr><th>\(dimension.rawValue.capitalized)</th><th></th>\
            <th class="num">Revenue</th><th class="num">Margin</th><th class="num">Requests</th></tr></thead>\
            <tbody>\(body)</tbody></table></section>
            """
    }

    /// A margin table grouped by `dimension`, sortable by every column through links, with totals.
    static func marginTable(
        id: String, title: String, rows: [MarginRow], totals: [MarginRow], dimension: ReportDimension, order: TableOrder, path: String,
        range: DashboardRange
    ) -> HTML {
        let showCurrency = Set(rows.map { "\($0.currency)/\($0.costCurrency)" }).count > 1
        let sorted = order.sorted(rows) { $0.group[dimension] ?? "" }
        let shown = sorted.prefix(Dashboard.maxTableRows)
        func header(_ label: String, _ column: TableOrder.Column, numeric: Bool = true) -> HTML {
            let active = order.column == column
            let descending = active ? !order.descending : column.defaultDescending
            let link = DashboardURL.make(path, range.query + [("sort", column.rawValue), ("dir", descending ? "desc" : "asc")])
            let arrow = active ? (order.descending ? " ▼" : " ▲") : ""
            let sort: HTML = active ? HTML(markup: " aria-sort=\"\(order.descending ? "descending" : "ascending")\"") : .empty
            return "<th\(HTML(markup: numeric ? " class=\"num\"" : ""))\(sort)><a href=\"\(link)\">\(label)\(arrow)</a></th>"
        }
        func cells(_ row: MarginRow) -> HTML {
            let same = row.currency == row.costCurrency
            let margin: HTML = same ? moneyCell(row.totals.margin, field: "margin") : "<td class=\"num muted\" data-field=\"margin\">—</td>"
            let percent = same ? row.totals.marginPercent : nil
            let currency: HTML =
                showCurrency ? "<td>\(same ? row.currency : "\(row.currency) / cost \(row.costCurrency)")</td>" : .empty
            return """
                \(countCell(row.totals.requests, field: "requests"))\(countCell(row.totals.errors, field: "errors"))\
                \(countCell(row.totals.inputTokens, field: "input_tokens"))\(countCell(row.totals.cacheReadTokens, field: "cache_read_tokens"))\
                \(countCell(row.totals.outputTokens, field: "output_tokens"))\
                \(moneyCell(row.totals.revenue, field: "revenue", currency: row.currency))\(moneyCell(row.totals.cost, field: "cost", currency: row.costCurrency))\
                \(margin)<td class="num\(HTML(markup: percent?.hasPrefix("-") == true ? " neg" : ""))" data-field="margin_pct" data-value="\(percent ?? "")">\
                \(Figures.percent(percent))</td>\(currency)
                """
        }
        let lines = shown.map { row -> HTML in
            let name = row.group[dimension] ?? ""
            let label: HTML =
                dimension == .customer
                ? "<a href=\"\(DashboardURL.make(DashboardURL.customer(name), range.query))\">\(name)</a>"
                : HTML(text: name.isEmpty ? "(none)" : name)
            return
                "<tr data-\(dimension.rawValue)=\"\(name)\" data-currency=\"\(row.currency)\"><td class=\"name\" title=\"\(name)\">\(label)</td>\(cells(row))</tr>"
        }
        let footer = totals.map { total -> HTML in
            "<tr class=\"total\" data-currency=\"\(total.currency)\"><td>Total\(showCurrency ? " (\(total.currency))" : "")</td>\(cells(total))</tr>"
        }
        let columns = showCurrency ? 11 : 10
        let body: HTML = lines.isEmpty ? "<tr><td colspan=\"\(columns)\" class=\"muted\">No requests in this range.</td></tr>" : HTML(joining: lines)
        let note: HTML =
            rows.count > shown.count
            ? "<p class=\"note\">Showing \(shown.count) of \(rows.count) rows in this order; the totals cover them all.</p>" : .empty
        return """
            <section class="card"><h2>\(title)<small>\(range.title)</small></h2><table id="\(id)" class="sortable"><thead><tr>\
            \(header(dimension.rawValue.capitalized, .name, numeric: false))\(header("Requests", .requests))\(header("Errors", .errors))\
            \(header("Input tok.", .input))\(header("Cached tok.", .cached))\(header("Output tok.", .output))\(header("Revenue", .revenue))\
            \(header("Cost", .cost))\(header("Margin", .margin))\(header("Margin %", .marginPercent))\
            \(showCurrency ? "<th>Currency</th>" : HTML.empty)</tr></thead>\
            <tbody>\(body)</tbody><tfoot>\(footer)</tfoot></table>\(note)</section>
            """
    }

    /// Caps and soft limits with their use this period and a bar (amber from 80 %, red when reached).
    static func capsCard(_ caps: [CapRow], currency: String) -> HTML {
        let lines = caps.prefix(Dashboard.maxTableRows).map { cap -> HTML in
            let limit = cap.status.limit
            let share = Figures.shareTenths(cap.used, of: cap.amount)
            let state = share >= 1000 ? " over" : share >= 800 ? " warn" : ""
            let width = Figures.tenths(min(max(share, 0), 1000))
            let owner: HTML =
                limit.scope == .customer
                ? "<a href=\"\(DashboardURL.customer(limit.scopeID))\">\(limit.scopeID)</a>" : HTML(text: "\(limit.scope.rawValue) \(limit.scopeID)")
            let money = limit.metric == .money
            func figure(_ text: String, _ field: String) -> HTML {
                "<td class=\"num\" data-field=\"\(field)\" data-value=\"\(text)\">\(money ? text : Figures.count(Int(text) ?? 0))</td>"
            }
            let unit = money ? currency : limit.metric.rawValue
            let resets = cap.status.periodEndMs.map { "resets \(Timestamps.date(of: $0))" } ?? "never resets"
            return """
                <tr data-scope-id="\(limit.scopeID)" data-limit="\(limit.id)"><td class="name" title="\(limit.id)">\(owner)</td>\
                <td>\(limit.period.label) \(limit.enforcement == .hard ? "cap" : "soft limit"), \(unit)<br><span class="muted">\(resets)</span></td>\
                \(figure(cap.status.used, "used"))\(figure(limit.amount, "amount"))\
                <td><span class="bar\(state)" title="\(Figures.tenths(share)) %"><span style="width:\(width)%"></span></span> \(Figures.tenths(share)) %</td>\
                \(figure(cap.status.remaining, "remaining"))</tr>
                """
        }
        let body: HTML = lines.isEmpty ? "<tr><td colspan=\"6\" class=\"muted\">No caps or soft limits.</td></tr>" : HTML(joining: lines)
        return """
            <section class="card"><h2>Spend against caps<small>this period, fullest first</small></h2><table id="caps"><thead><tr>\
            <th>Applies to</th><th>Limit</th><th class="num">Used</th><th class="num">Limit</th><th>Share</th><th class="num">Remaining</th>\
            </tr></thead><tbody>\(body)</tbody></table></section>
            """
    }

    /// The credit accounts holding grants, emptiest first.
    static func accountsCard(_ accounts: [AccountRow], leftOut: Int) -> HTML {
        let lines = accounts.map { row -> HTML in
            let balance = row.balance
            let who = HTML(
                joining: row.customers.prefix(5).map { customer -> HTML in "<a href=\"\(DashboardURL.customer(customer))\">\(customer)</a>" },
                separator: ", ")
            let more: HTML = row.customers.count > 5 ? " +\(row.customers.count - 5)" : .empty
            return """
                <tr data-account="\(balance.account)"><td class="name" title="\(balance.account)">\(balance.account)<br><span class="muted">\(who)\(more)</span></td>\
                \(moneyCell(balance.granted, field: "granted", currency: balance.currency))\(moneyCell(balance.spent, field: "spent", currency: balance.currency))\
                \(moneyCell(balance.reserved, field: "reserved", currency: balance.currency))\
                \(moneyCell(balance.available, field: "available", currency: balance.currency))\
                \(moneyCell(balance.overdraft, field: "overdraft", currency: balance.currency))</tr>
                """
        }
        let body: HTML = lines.isEmpty ? "<tr><td colspan=\"6\" class=\"muted\">No prepaid credits.</td></tr>" : HTML(joining: lines)
        let note: HTML = leftOut > 0 ? "<p class=\"note\">\(leftOut) more accounts are not shown.</p>" : .empty
        let currency = accounts.first?.balance.currency ?? ""
        return """
            <section class="card"><h2>Remaining credits<small>\(currency) · emptiest first</small></h2><table id="credits"><thead><tr>\
            <th>Account</th><th class="num">Granted</th><th class="num">Spent</th><th class="num">Reserved</th><th class="num">Available</th>\
            <th class="num">Overdraft</th></tr></thead><tbody>\(body)</tbody></table>\(note)</section>
            """
    }

    /// A customer's credit account: its figures and its grants.
    static func balanceCard(_ account: AccountRow?, nowMs: Int64) -> HTML {
        guard let balance = account?.balance else {
            return "<section class=\"card\"><h2>Credit balance</h2><p class=\"muted\">No credit account.</p></section>"
        }
        let figures: [(String, String, Money)] = [
            ("Granted", "granted", balance.granted), ("Spent", "spent", balance.spent), ("Expired", "expired", balance.expired),
            ("Reserved", "reserved", balance.reserved), ("Available", "available", balance.available), ("Upcoming", "upcoming", balance.upcoming),
            ("Overdraft", "overdraft", balance.overdraft),
        ]
        let rows = figures.map { label, field, amount -> HTML in
            "<tr><th>\(label)</th>\(moneyCell(amount, field: field, currency: balance.currency))</tr>"
        }
        let grants = balance.grants.map { grant -> HTML in
            """
            <tr data-grant="\(grant.id)"><td class="name" title="\(grant.id)">\(grant.id)</td>\(moneyCell(grant.amount, field: "amount"))\
            \(moneyCell(grant.remaining, field: "remaining"))<td>\(grant.closedReason?.rawValue ?? (grant.effectiveMs > nowMs ? "upcoming" : "open"))</td>\
            <td>\(grant.expiresMs.map(Figures.time) ?? "never")</td><td class="name">\(grant.note ?? "")</td></tr>
            """
        }
        let grantTable: HTML =
            grants.isEmpty
            ? .empty
            : """
            <table id="grants"><thead><tr><th>Grant</th><th class="num">Amount</th><th class="num">Remaining</th><th>State</th><th>Expires</th>\
            <th>Note</th></tr></thead><tbody>\(grants)</tbody></table>
            """
        return """
            <section class="card"><h2>Credit balance<small>\(balance.account) · \(balance.currency)</small></h2>\
            <table id="balance" data-account="\(balance.account)"><tbody>\(rows)</tbody></table>\(grantTable)</section>
            """
    }
}
