//! A headless Chromium driven through WebDriver (Debian's `chromium` and
//! `chromium-driver`), for the marketplace page's browser tests and its load benchmark.
//!
//! The WebDriver protocol is JSON over HTTP on loopback; a request is a fresh connection
//! closed by the driver after its answer, so a plain `TcpStream` is the whole client.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The key under which WebDriver names an element.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// What can stop a browser test before it checks anything of the page.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    /// Chromium or chromedriver is neither where its variable points nor on the `PATH`;
    /// a test calls [`available`] first to skip instead.
    #[error(
        "{0} not found: install Debian's `chromium` and `chromium-driver` (scripts/test.sh does), or set CONFIDE_CHROMIUM / CONFIDE_CHROMEDRIVER"
    )]
    Missing(&'static str),
    /// chromedriver exited, answered something other than WebDriver's JSON, or refused a
    /// command (a stale element, a script error); the message names the command.
    #[error("webdriver: {0}")]
    Driver(String),
    /// Talking to chromedriver over its socket, or writing a screenshot, failed.
    #[error("webdriver I/O: {0}")]
    Io(#[from] std::io::Error),
    /// chromedriver did not listen within 20 s, or a [`Browser::wait_for`] condition never
    /// held.
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

/// A running chromedriver with one browser session; both end when this is dropped.
pub struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

fn find_binary(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// Whether this machine can run the browser tests.
pub fn available() -> bool {
    chromium().is_some() && chromedriver().is_some()
}

fn chromium() -> Option<PathBuf> {
    find_binary("CONFIDE_CHROMIUM", &["chromium", "chromium-browser", "google-chrome"])
}

fn chromedriver() -> Option<PathBuf> {
    find_binary("CONFIDE_CHROMEDRIVER", &["chromedriver"])
}

impl Browser {
    /// Starts chromedriver and a headless Chromium window of `width` × `height` pixels.
    pub fn start(width: u32, height: u32) -> Result<Browser, BrowserError> {
        let chromium = chromium().ok_or(BrowserError::Missing("chromium"))?;
        let chromedriver = chromedriver().ok_or(BrowserError::Missing("chromedriver"))?;
        let port = confide_devstack::anvil::free_port();
        let driver = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mut browser = Browser {
            driver,
            port,
            session: String::new(),
        };
        browser.wait_until_listening()?;
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                // No sandbox: test machines run as root, where Chromium's sandbox refuses.
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--hide-scrollbars", "--force-device-scale-factor=1",
                         format!("--window-size={width},{height}")],
            },
        }}});
        let created = browser.call("POST", "/session", Some(&capabilities))?;
        browser.session = created["sessionId"]
            .as_str()
            .ok_or_else(|| BrowserError::Driver(format!("no session id in {created}")))?
            .to_owned();
        Ok(browser)
    }

    fn wait_until_listening(&mut self) -> Result<(), BrowserError> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.driver.try_wait()? {
                return Err(BrowserError::Driver(format!("chromedriver exited: {status}")));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(BrowserError::Timeout(
            Duration::from_secs(20),
            "chromedriver to listen".into(),
        ))
    }

    /// One WebDriver command; its `value`, or the driver's error.
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, BrowserError> {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        write!(
            stream,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        )?;
        // The driver may keep the connection open whatever the request says: read the
        // answer's length, not to the end of the stream.
        let payload = read_answer(&mut stream)?;
        let answer: Value = serde_json::from_slice(&payload)
            .map_err(|e| BrowserError::Driver(format!("{method} {path}: not JSON ({e})")))?;
        let value = answer["value"].clone();
        if let Some(error) = value.get("error").and_then(Value::as_str) {
            let message = value["message"].as_str().unwrap_or_default();
            return Err(BrowserError::Driver(format!(
                "{method} {path}: {error}: {}",
                message.lines().next().unwrap_or_default()
            )));
        }
        Ok(value)
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url` in the window and returns once the page has loaded.
    pub fn goto(&self, url: &str) -> Result<(), BrowserError> {
        self.call("POST", &self.session_path("/url"), Some(&json!({ "url": url })))
            .map(drop)
    }

    /// Resizes the window to `width` × `height` pixels.
    pub fn set_window_size(&self, width: u32, height: u32) -> Result<(), BrowserError> {
        let rect = json!({ "width": width, "height": height });
        self.call("POST", &self.session_path("/window/rect"), Some(&rect))
            .map(drop)
    }

    /// The elements matching a CSS selector (WebDriver element ids).
    pub fn find_all(&self, css: &str) -> Result<Vec<String>, BrowserError> {
        let found = self.call(
            "POST",
            &self.session_path("/elements"),
            Some(&json!({ "using": "css selector", "value": css })),
        )?;
        Ok(found
            .as_array()
            .map(|elements| {
                elements
                    .iter()
                    .filter_map(|e| e[ELEMENT_KEY].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The first element matching a CSS selector, `None` when there is none.
    pub fn find(&self, css: &str) -> Result<Option<String>, BrowserError> {
        Ok(self.find_all(css)?.into_iter().next())
    }

    /// The element's rendered text.
    pub fn text(&self, element: &str) -> Result<String, BrowserError> {
        let text = self.call("GET", &self.session_path(&format!("/element/{element}/text")), None)?;
        Ok(text.as_str().unwrap_or_default().to_owned())
    }

    /// Clicks the element, as a person would (WebDriver scrolls it into view first).
    pub fn click(&self, element: &str) -> Result<(), BrowserError> {
        self.call(
            "POST",
            &self.session_path(&format!("/element/{element}/click")),
            Some(&json!({})),
        )
        .map(drop)
    }

    /// Types into an element, as a person's keystrokes (`\u{E007}` is Enter).
    pub fn type_text(&self, element: &str, text: &str) -> Result<(), BrowserError> {
        self.call(
            "POST",
            &self.session_path(&format!("/element/{element}/value")),
            Some(&json!({ "text": text })),
        )
        .map(drop)
    }

    /// Runs a script in the page (`return …` gives its value).
    pub fn execute(&self, script: &str) -> Result<Value, BrowserError> {
        self.call(
            "POST",
            &self.session_path("/execute/sync"),
            Some(&json!({ "script": script, "args": [] })),
        )
    }

    /// Saves a PNG of the viewport.
    pub fn screenshot(&self, path: &Path) -> Result<(), BrowserError> {
        let encoded = self.call("GET", &self.session_path("/screenshot"), None)?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(encoded.as_str().unwrap_or_default())
            .map_err(|e| BrowserError::Driver(format!("screenshot: {e}")))?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, png)?;
        Ok(())
    }

    /// Polls `check` until it gives a value (driver errors count as "not yet").
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut check: impl FnMut(&Browser) -> Result<Option<T>, BrowserError>,
    ) -> Result<T, BrowserError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(value)) = check(self) {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(BrowserError::Timeout(timeout, what.to_owned()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            let _ = self.call("DELETE", &self.session_path(""), None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Reads one HTTP/1.1 answer's body: by `Content-Length`, chunked, or to the end.
fn read_answer(stream: &mut TcpStream) -> Result<Vec<u8>, BrowserError> {
    let mut data = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    let split = loop {
        if let Some(split) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break split;
        }
        let n = stream.read(&mut buffer)?;
        if n == 0 {
            return Err(BrowserError::Driver(
                "the driver closed the connection before answering".into(),
            ));
        }
        data.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&data[..split]).to_ascii_lowercase();
    let mut body = data.split_off(split + 4);
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok());
    if let Some(length) = length {
        while body.len() < length {
            let n = stream.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buffer[..n]);
        }
        body.truncate(length);
        return Ok(body);
    }
    if head.contains("transfer-encoding: chunked") {
        while !body.ends_with(b"0\r\n\r\n") {
            let n = stream.read(&mut buffer)?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&buffer[..n]);
        }
        return Ok(dechunk(&body));
    }
    stream.read_to_end(&mut body)?;
    Ok(body)
}

/// Joins an HTTP/1.1 chunked body.
fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&data[..end])
            .ok()
            .and_then(|line| usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 || data.len() < end + 2 + size {
            break;
        }
        body.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[(end + 4 + size).min(data.len())..];
    }
    body
}
