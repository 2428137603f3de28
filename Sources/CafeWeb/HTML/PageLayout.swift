import Identity

/// Who a page is for, as far as the header's navigation needs to know.
struct PageViewer: Sendable {
    /// The signed-in person, or nil.
    var user: SignedInUser?
    /// The token the sign-out form carries, when signed in with a browser session.
    var formToken: String?
    /// Whether this site offers sign-in at all.
    var signInAvailable: Bool
    /// Whether the page is served on the operator listener, which shows the book without sign-in.
    var onOperatorListener: Bool

    static let stranger = PageViewer(user: nil, formToken: nil, signInAvailable: false, onOperatorListener: false)

    /// Whether the navigation offers the book of every reservation.
    var seesBook: Bool { onOperatorListener || user?.isStaff == true }
}

/// The frame every page shares: head, header with the cafe's name and navigation, main, footer.
struct PageLayout: Sendable {
    /// The navigation entries, to mark the current one.
    enum Section: Sendable {
        case book, reservations, mine, signIn, none
    }

    let siteName: String
    let cafeName: String

    /// A whole page.
    ///
    /// - Parameters:
    ///   - title: the page's own name, first in the window title.
    ///   - section: the navigation entry to mark as current.
    ///   - refreshSeconds: when set, the browser reloads the page after this many seconds (no script needed).
    ///   - hero: markup for the band under the header.
    ///   - main: the page's content.
    func page(
        title: String, section: Section, viewer: PageViewer, refreshSeconds: Int? = nil, hero: HTML? = nil,
        wide: Bool = false, main: HTML
    ) -> HTML {
        let refresh: HTML? = refreshSeconds.map { "<meta http-equiv=\"refresh\" content=\"\($0)\">\n" }
        let heroBand: HTML? = hero.map { "<div class=\"hero\"><div class=\"wrap\(wide ? " wide" : "")\">\($0)</div></div>" }
        return """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            \(refresh)<title>\(title) — \(cafeName) · \(siteName)</title>
            <link rel="stylesheet" href="\(Stylesheet.path)">
            <link rel="icon" href="/favicon.svg" type="image/svg+xml">
            </head>
            <body>
            <a class="skip" href="#main">Skip to the content</a>
            <header class="site-header"><div class="wrap\(wide ? " wide" : "")">
            <a class="brand" href="/">\(HTML(stringLiteral: CupIcon.inline))<span>\(cafeName)</span></a>
            <nav aria-label="Main">\(navigation(section: section, viewer: viewer))</nav>
            </div></header>
            <main id="main">
            \(heroBand)<div class="wrap\(wide ? " wide" : "")">
            \(main)
            </div>
            </main>
            <footer class="site-footer"><div class="wrap\(wide ? " wide" : "")">
            <p>\(cafeName) · \(siteName). Every reservation is saved on our server's disk before we say thank you, even when our database is away.</p>
            <p>For developers: the <a href="/api/v1/openapi.json">reservations API</a>.</p>
            </div></footer>
            </body>
            </html>

            """
    }

    private func navigation(section: Section, viewer: PageViewer) -> HTML {
        var links: [HTML] = [navigationLink("/", "Book a table", current: section == .book)]
        if viewer.seesBook {
            links.append(navigationLink("/reservations", "The book", current: section == .reservations))
        }
        if let user = viewer.user {
            links.append(navigationLink("/my", "My reservations", current: section == .mine))
            if let token = viewer.formToken {
                links.append(
                    """
                    <form class="signout" method="post" action="/signout"><input type="hidden" name="formToken" value="\(token)"><button type="submit" title="Signed in as \(user.displayName)">Sign out</button></form>
                    """)
            }
        } else if viewer.signInAvailable {
            links.append(navigationLink("/signin", "Sign in", current: section == .signIn))
        }
        return "\(links)"
    }

    private func navigationLink(_ href: String, _ text: String, current: Bool) -> HTML {
        current ? "<a href=\"\(href)\" aria-current=\"page\">\(text)</a>" : "<a href=\"\(href)\">\(text)</a>"
    }
}
