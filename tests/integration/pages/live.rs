//! `/events`: a change made through the workflow reaches the open streams of those who may see it,
//! and nobody else's. Read from the stream itself; no sleeps.

use std::time::Duration;

use reqwest::StatusCode;

use super::{ADMIN, ALICE, BOB, Browser, ERIN, dashboard, on_both_backends};
use crate::support::Backend;

on_both_backends!(changes_reach_the_streams_of_those_who_may_see_them);

/// An open event stream, read event by event.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    pub async fn open(browser: &Browser) -> EventStream {
        let mut request = browser.client.get(format!("{}/events", browser.base));
        if let Some(cookie) = &browser.cookie {
            request = request.header("cookie", cookie);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );
        let mut stream = EventStream {
            response,
            buffer: String::new(),
        };
        assert_eq!(
            stream.next().await.0,
            "ready",
            "the stream says when it is subscribed"
        );
        stream
    }

    /// The next event's name and data (comments and keep-alives skipped). Fails after 10 s.
    pub async fn next(&mut self) -> (String, String) {
        tokio::time::timeout(Duration::from_secs(10), self.read())
            .await
            .expect("an event within 10 s")
    }

    async fn read(&mut self) -> (String, String) {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        name = value.trim().to_owned();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        data.push_str(value.trim());
                    }
                }
                if name.is_empty() && data.is_empty() {
                    continue;
                }
                return (name, data);
            }
            let chunk = self
                .response
                .chunk()
                .await
                .unwrap()
                .expect("the stream stays open");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

async fn changes_reach_the_streams_of_those_who_may_see_them(backend: Backend) {
    let Some(app) = dashboard(backend).await else {
        return;
    };
    let mut alice = EventStream::open(&app.sign_in(ALICE).await).await;
    let mut bob = EventStream::open(&app.sign_in(BOB).await).await;
    let mut admin = EventStream::open(&app.sign_in(ADMIN).await).await;
    let mut erin = EventStream::open(&app.sign_in(ERIN).await).await;

    let request = app.submit(ALICE, &["payments"]).await;
    let id = request.id.to_string();
    let submitted = format!("{{\"id\":\"{id}\",\"state\":\"pending\"}}");
    for stream in [&mut alice, &mut bob, &mut admin] {
        assert_eq!(stream.next().await, ("request".to_owned(), submitted.clone()));
        assert_eq!(stream.next().await, (format!("request-{id}"), submitted.clone()));
    }
    app.approve(&request, BOB).await;
    let approved = format!("{{\"id\":\"{id}\",\"state\":\"approved\"}}");
    assert_eq!(alice.next().await, ("request".to_owned(), approved.clone()));
    assert_eq!(admin.next().await, ("request".to_owned(), approved));

    // Erin saw neither: the first event she gets is about her own request.
    let hers = app.submit(ERIN, &["checkout"]).await;
    let (name, data) = erin.next().await;
    assert_eq!(name, "request");
    assert!(data.contains(hers.id.as_str()), "{data}");
    app.finish().await;
}
