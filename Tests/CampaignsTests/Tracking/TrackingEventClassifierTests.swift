import Foundation
import Testing
@testable import Campaigns

/// The rules that tell people from machines, at fixed times.
@Suite struct TrackingEventClassifierTests {
    let classifier = TrackingEventClassifier(soonAfterSend: 10)
    let sent = Date(timeIntervalSince1970: 1_800_000_000)
    let browser = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"

    @Test func aBrowserAMinuteAfterTheSendIsAPerson() {
        #expect(classifier.classify(isHead: false, userAgent: browser, sentAt: sent, now: sent.addingTimeInterval(60)) == .human)
        // Sent time unknown: the agent alone decides.
        #expect(classifier.classify(isHead: false, userAgent: browser, sentAt: nil, now: sent) == .human)
    }

    @Test func aFetchWithinSecondsOfTheSendIsAMachine() {
        #expect(classifier.classify(isHead: false, userAgent: browser, sentAt: sent, now: sent) == .machine("soon-after-send"))
        #expect(classifier.classify(isHead: false, userAgent: browser, sentAt: sent, now: sent.addingTimeInterval(9.9)) == .machine("soon-after-send"))
        #expect(classifier.classify(isHead: false, userAgent: browser, sentAt: sent, now: sent.addingTimeInterval(10)) == .human)
        #expect(TrackingEventClassifier(soonAfterSend: 30).classify(isHead: false, userAgent: browser, sentAt: sent, now: sent.addingTimeInterval(20)) == .machine("soon-after-send"))
    }

    @Test func headRequestsAndMissingAgentsAreMachines() {
        let later = sent.addingTimeInterval(3600)
        #expect(classifier.classify(isHead: true, userAgent: browser, sentAt: sent, now: later) == .machine("head"))
        #expect(classifier.classify(isHead: false, userAgent: nil, sentAt: sent, now: later) == .machine("no-user-agent"))
        #expect(classifier.classify(isHead: false, userAgent: "  ", sentAt: sent, now: later) == .machine("no-user-agent"))
    }

    @Test func knownProxiesAndScannersAreMachines() {
        let later = sent.addingTimeInterval(3600)
        let cases = [
            ("Mozilla/5.0", "agent:apple-privacy-proxy"),
            ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", "agent:google-image-proxy"),
            ("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", "agent:yahoo-mail-proxy"),
            ("Mozilla/5.0 (compatible; Barracuda Sentinel)", "agent:barracuda"),
            ("Mozilla/5.0 Proofpoint URL Defense", "agent:proofpoint"),
            ("python-requests/2.31.0", "agent:script"),
            ("Mozilla/5.0 (compatible; bingbot/2.0)", "agent:bot"),
        ]
        for (agent, reason) in cases {
            #expect(classifier.classify(isHead: false, userAgent: agent, sentAt: sent, now: later) == .machine(reason), "\(agent)")
        }
    }
}
