import Testing
import MailMessage

@Suite struct PlainTextTests {
    @Test func turnsHTMLIntoReadableText() {
        let html = """
            <!DOCTYPE html><html><head><title>T</title><style>p{color:red}</style></head>
            <body><h1>Spring   deals</h1>
            <p>Hello <b>Ann</b> &amp; friends,<br>see <a href="https://shop.example/d?a=1&amp;b=2">our deals</a>.</p>
            <ul><li>Mangoes</li><li>Yams &mdash; fresh</li></ul>
            <script>alert("x")</script>
            <p><a href="https://shop.example/">https://shop.example/</a> <img src="x.png" alt="Logo"></p>
            <p><a href="mailto:help@shop.example">help@shop.example</a></p></body></html>
            """
        let text = PlainText(html: html).text
        #expect(text == """
            Spring deals

            Hello Ann & friends,
            see our deals (https://shop.example/d?a=1&b=2).

            - Mangoes
            - Yams — fresh

            https://shop.example/ [Logo]

            help@shop.example
            """)
    }

    @Test func decodesNumericEntitiesAndKeepsPreformattedText() {
        #expect(PlainText(html: "<p>caf&#233; &#x1F338;</p><pre>a  b\n  c</pre>").text == "café 🌸\n\na  b\n  c")
    }
}
