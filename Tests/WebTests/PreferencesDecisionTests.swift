import Campaigns
import Testing
import Web

@Suite struct PreferencesDecisionTests {
    let ann = (campaign: "spring-sale", recipient: "ann@example.org")

    @Test func aGetOrHeadOnlyShowsThePageWhateverItCarries() {
        for method in [UnsubscribeDecision.Method.get, .head] {
            #expect(PreferencesDecision.decide(method: method, verified: ann, form: ["action": "unsubscribe-all"])
                    == .show(campaign: "spring-sale", recipient: "ann@example.org"))
        }
    }

    @Test func eachButtonIsOneChange() {
        let cases: [([String: String], PreferenceChange)] = [
            (["action": "unsubscribe-list", "list": "offers"], .unsubscribe(list: "offers")),
            (["action": "resubscribe-list", "list": "offers"], .resubscribe(list: "offers")),
            (["action": "unsubscribe-all"], .unsubscribeFromEverything),
            (["action": "resubscribe-all", "list": "ignored"], .resubscribeToEverything),
        ]
        for (form, change) in cases {
            #expect(PreferencesDecision.decide(method: .post, verified: ann, form: form)
                    == .change(campaign: "spring-sale", recipient: "ann@example.org", change))
        }
    }

    @Test func aPostThatAsksForNothingThePageOffersIsRefused() {
        for form in [[:], ["action": "unsubscribe-list"], ["action": "resubscribe-list", "list": ""], ["action": "drop"],
                     ["List-Unsubscribe": "One-Click"]] as [[String: String]] {
            #expect(PreferencesDecision.decide(method: .post, verified: ann, form: form) == .badRequest, "\(form)")
        }
    }

    @Test func aTokenThatFailedIsNotFound() {
        for method in [UnsubscribeDecision.Method.get, .head, .post] {
            #expect(PreferencesDecision.decide(method: method, verified: nil, form: ["action": "unsubscribe-all"]) == .notFound)
        }
    }
}
