import Foundation

/// How `salvo status` and `salvo report --links` show opens and clicks: people and
/// machines apart, as the counts are.
public enum TrackingLines {
    /// `opens: …` and `clicks: …` lines; none for a campaign without events.
    public static func text(_ counts: [TrackingEventKind: TrackingCounts]) -> [String] {
        [(TrackingEventKind.open, "opens"), (.click, "clicks")].compactMap { kind, label in
            guard let count = counts[kind], count.unique > 0 else { return nil }
            return "\(label): \(count.unique) unique (\(count.human) human / \(count.machineOnly) machine only)"
        }
    }

    /// The `opens` or `clicks` object of `salvo status --json`.
    public static func json(_ counts: TrackingCounts?) -> [String: Int] {
        let counts = counts ?? TrackingCounts()
        return ["unique": counts.unique, "human": counts.human, "machine": counts.machineOnly]
    }

    /// `salvo report CAMPAIGN --links`: one line per link (position, clicks human /
    /// machine, target), or a JSON array.
    public static func links(_ links: [LinkClicks], json: Bool) throws -> String {
        if json {
            let objects: [[String: Any]] = links.map {
                ["position": $0.position, "url": $0.target, "human": $0.human, "machine": $0.machine]
            }
            return String(decoding: try JSONSerialization.data(withJSONObject: objects, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]), as: UTF8.self)
        }
        guard !links.isEmpty else { return "no tracked link was followed" }
        var lines = ["link  human  machine  url"]
        for link in links {
            lines.append(String(link.position).padding(toLength: 4, withPad: " ", startingAt: 0) + "  "
                         + String(link.human).padding(toLength: 5, withPad: " ", startingAt: 0) + "  "
                         + String(link.machine).padding(toLength: 7, withPad: " ", startingAt: 0) + "  " + link.target)
        }
        return lines.joined(separator: "\n")
    }
}
