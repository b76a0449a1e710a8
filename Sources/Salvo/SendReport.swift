import Campaigns
import Delivery
import Foundation

/// The lines `salvo send` and `salvo run` print after a campaign's pass.
enum SendReport {
    static func print(campaign: String, result: CampaignSender.Result, seconds: Double) {
        defer { print(notices: result.notices) }
        guard let summary = result.summary else {
            printNow("campaign '\(campaign)' is \(result.start.state): nothing sent (`salvo resume \(campaign)` first)")
            return
        }
        if summary.recovered.released + summary.recovered.unknown > 0 {
            printNow("recovered from an earlier run: \(summary.recovered.released) claims released, \(summary.recovered.unknown) in doubt (unknown)")
        }
        printNow("sent \(summary.sent), deferred \(summary.deferred), bounced \(summary.bounced), failed \(summary.failed), unknown \(summary.unknown) in \(String(format: "%.1f", seconds)) s (\(Int(Double(summary.attempts) / max(seconds, 0.001))) msg/s)")
        let states = DeliveryState.allCases.compactMap { state -> String? in
            let n = result.counts.byState[state] ?? 0
            return n > 0 ? "\(state.rawValue) \(n)" : nil
        }
        printNow("campaign '\(campaign)': \(states.joined(separator: ", "))")
        if let stopped = summary.stoppedBy { printNow("stopped: the campaign was \(stopped.rawValue)") }
        if let held = summary.heldBy { printNow(held.reason) }
        if (result.counts.byState[.unknown] ?? 0) > 0 {
            printNow("recipients in doubt are not sent again unless you run: salvo send \(campaign) --resend-unknown")
        }
    }

    /// One line per notice sent; a notice not sent is a warning on stderr, never an error.
    static func print(notices: NoticeSender.Report) {
        for line in notices.sent { printNow("notice: \(line)") }
        for line in notices.warnings { printError("warning: \(line)") }
    }
}
