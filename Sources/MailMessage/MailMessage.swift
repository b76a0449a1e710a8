// Composing one message: RFC 5322 headers, RFC 2047 encoded words, MIME structure,
// transfer encodings, Message-ID and DKIM signatures.
