import Testing
import Web

@Suite struct UnsubscribeDecisionTests {
    let ann = (campaign: "spring-sale", recipient: "ann@example.org")

    @Test func aGetOrHeadOnlyShowsThePage() {
        #expect(UnsubscribeDecision.decide(method: .get, verified: ann, form: [:]) == .showConfirmation(campaign: "spring-sale", recipient: "ann@example.org"))
        #expect(UnsubscribeDecision.decide(method: .head, verified: ann, form: [:]) == .showConfirmation(campaign: "spring-sale", recipient: "ann@example.org"))
        // Even a GET that carries the one-click field (a scanner replaying a form) writes nothing.
        #expect(UnsubscribeDecision.decide(method: .get, verified: ann, form: ["List-Unsubscribe": "One-Click"]) == .showConfirmation(campaign: "spring-sale", recipient: "ann@example.org"))
    }

    @Test func theOneClickBodyUnsubscribesAtOnce() {
        #expect(UnsubscribeDecision.decide(method: .post, verified: ann, form: ["List-Unsubscribe": "One-Click"]) == .unsubscribe(campaign: "spring-sale", recipient: "ann@example.org", oneClick: true))
    }

    @Test func thePageButtonsCarryAnAction() {
        #expect(UnsubscribeDecision.decide(method: .post, verified: ann, form: ["action": "unsubscribe"]) == .unsubscribe(campaign: "spring-sale", recipient: "ann@example.org", oneClick: false))
        #expect(UnsubscribeDecision.decide(method: .post, verified: ann, form: ["action": "resubscribe"]) == .resubscribe(campaign: "spring-sale", recipient: "ann@example.org"))
    }

    @Test func aPostAskingForNothingKnownIsRefused() {
        #expect(UnsubscribeDecision.decide(method: .post, verified: ann, form: [:]) == .badRequest)
        #expect(UnsubscribeDecision.decide(method: .post, verified: ann, form: ["List-Unsubscribe": "one-click-please"]) == .badRequest)
        #expect(UnsubscribeDecision.decide(method: .post, verified: ann, form: ["action": "delete-everything"]) == .badRequest)
    }

    @Test func aTokenThatFailedIsNotFoundWhateverTheRequest() {
        for method in [UnsubscribeDecision.Method.get, .head, .post] {
            #expect(UnsubscribeDecision.decide(method: method, verified: nil, form: ["List-Unsubscribe": "One-Click"]) == .notFound)
        }
    }
}

@Suite struct FormBodyTests {
    @Test func readsUrlencodedForms() {
        #expect(FormBody.fields(body: Array("List-Unsubscribe=One-Click".utf8), contentType: "application/x-www-form-urlencoded")
            == ["List-Unsubscribe": "One-Click"])
        #expect(FormBody.fields(body: Array("action=re%73ubscribe&x=a+b".utf8), contentType: "application/x-www-form-urlencoded; charset=utf-8")
            == ["action": "resubscribe", "x": "a b"])
        // A provider that sends no type, or a trailing newline, still means one-click.
        #expect(FormBody.fields(body: Array("List-Unsubscribe=One-Click\r\n".utf8), contentType: nil) == ["List-Unsubscribe": "One-Click"])
        // The first of a repeated field counts.
        #expect(FormBody.fields(body: Array("action=unsubscribe&action=resubscribe".utf8), contentType: nil) == ["action": "unsubscribe"])
    }

    @Test func readsMultipartForms() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n"
        #expect(FormBody.fields(body: Array(body.utf8), contentType: "multipart/form-data; boundary=XyZ") == ["List-Unsubscribe": "One-Click"])
        #expect(FormBody.fields(body: Array(body.utf8), contentType: "multipart/form-data; boundary=\"XyZ\"") == ["List-Unsubscribe": "One-Click"])
    }
}

@Suite struct HTMLPageTests {
    @Test func escapesEverythingThatComesFromOutside() {
        #expect(HTMLPage.escape("<script>alert('x')</script> & \"q\"") == "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;")
        let page = HTMLPage(title: "<b>", body: "").html
        #expect(page.contains("<title>&lt;b&gt;</title>"))
    }
}
