//! The `milpa` binary: serves the demo, reads a config file, exits cleanly on SIGTERM.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Milpa {
    child: Child,
    addr: SocketAddr,
}

impl Milpa {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_milpa"))
            .args(args)
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("milpa exited before listening").unwrap();
            if let Some(at) = line.find("listening on http://") {
                break line[at + "listening on http://".len()..].trim().parse().unwrap();
            }
        };
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, addr }
    }

    fn get(&self, path: &str) -> String {
        let mut stream = TcpStream::connect(self.addr).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        stream.read_to_string(&mut out).unwrap();
        out
    }

    fn terminate(mut self) -> std::process::ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
        self.child.wait().unwrap()
    }
}

#[test]
fn demo_serves_messages_queries_and_the_page_on_every_runtime() {
    for class in ["tokio", "smol", "async-std"] {
        demo_on(class);
    }
}

fn demo_on(class: &str) {
    let milpa = Milpa::start(&["-k", class, "--bind", "127.0.0.1:0"]);
    let out = milpa.get("/message/7/");
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.contains("content-type: application/json\r\n"));
    assert!(out.ends_with("\r\n\r\n{\"message\": 7}"), "{out}");
    let out = milpa.get("/query?id=42");
    assert!(out.ends_with("{\"text\":\"spam, egg, spam and spam!, 42!\"}"), "{out}");
    let out = milpa.get("/");
    assert!(out.contains("fetch("), "the page runs the fetches");
    let out = milpa.get("/message/3/?delay_ms=50");
    assert!(out.ends_with("{\"message\": 3}"), "{out}");
    assert!(milpa.get("/nope").starts_with("HTTP/1.1 404 Not Found"));
    assert!(milpa.terminate().success(), "{class}: SIGTERM shuts down gracefully with exit 0");
}

#[test]
fn config_file_is_read_and_flags_win() {
    let dir = std::env::temp_dir().join(format!("milpa-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("milpa.toml");
    std::fs::write(&path, "bind = [\"127.0.0.1:1\"]\nkeep_alive_timeout = 7.5\nroot_path = \"/app\"\n")
        .unwrap();
    let milpa = Milpa::start(&["--config", path.to_str().unwrap(), "--bind", "127.0.0.1:0"]);
    assert!(milpa.get("/message/1/").starts_with("HTTP/1.1 200 OK"));
    assert!(milpa.terminate().success());
}

#[test]
fn unknown_config_key_exits_2_naming_it() {
    let dir = std::env::temp_dir().join(format!("milpa-badconfig-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("milpa.toml");
    std::fs::write(&path, "bind = [\"127.0.0.1:0\"]\nkeep_alive_timout = 5\n").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_milpa"))
        .args(["--config", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("keep_alive_timout"), "{stderr}");
}

#[test]
fn help_shows_examples() {
    let output = Command::new(env!("CARGO_BIN_EXE_milpa")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(help.contains("--bind") && help.contains("Examples:"), "{help}");
}

#[test]
fn push_page_promises_its_assets_over_http2() {
    let found = Command::new("nghttp").arg("--version").output();
    assert!(found.is_ok(), "nghttp is not installed: run the tests with scripts/test.sh, which installs it");
    let milpa = Milpa::start(&["--bind", "127.0.0.1:0"]);
    let url = format!("http://{}/push", milpa.addr);
    let output = Command::new("nghttp").args(["-nv", &url]).output().unwrap();
    let out = String::from_utf8_lossy(&output.stdout);
    assert_eq!(out.matches("recv PUSH_PROMISE frame").count(), 2, "{out}");
    assert!(out.contains(":path: /push/style.css") && out.contains(":path: /push/app.js"), "{out}");
    assert_eq!(out.matches(":status: 200").count(), 3, "the page and both pushed assets: {out}");
    assert!(milpa.terminate().success());
}

#[test]
fn static_serves_a_directory() {
    let dir = std::env::temp_dir().join(format!("milpa-cli-static-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("hello.txt"), "hello from a file").unwrap();
    let milpa = Milpa::start(&["static", dir.to_str().unwrap(), "--bind", "127.0.0.1:0"]);
    let response = milpa.get("/hello.txt");
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with("hello from a file"), "{response}");
    assert!(milpa.get("/../hello.txt").starts_with("HTTP/1.1 404"));
    assert!(milpa.terminate().success());
    let missing =
        Command::new(env!("CARGO_BIN_EXE_milpa")).args(["static", "/nonexistent/dir"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
}
