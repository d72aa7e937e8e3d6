//! `vipd bench` against a real nginx (Debian's nginx-light) on loopback: the
//! bench's succeeded count must equal the lines nginx logged, in keep-alive and
//! in new-connection mode. nginx runs with its own config, pid and logs in a temp
//! directory and is stopped by its PID.

mod bench_support;
mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bench_support::{bench, free_port, wait_for_listener};

/// An nginx master process in the foreground, stopped (SIGQUIT, then SIGKILL) on drop.
struct Nginx {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Nginx {
    fn start() -> Nginx {
        let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("nginx not found: apt-get install -y nginx-light (make deps installs it)");
        let dir = std::env::temp_dir().join(format!(
            "vipd-bench-nginx-{}-{:x}",
            std::process::id(),
            common::rand16()
        ));
        std::fs::create_dir_all(dir.join("html")).unwrap();
        std::fs::write(dir.join("html/index.html"), vec![b'n'; 612]).unwrap();
        let port = free_port();
        let d = dir.display();
        let conf = format!(
            "worker_processes 1;\ndaemon off;\nmaster_process on;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log {d}/access.log;\n  keepalive_requests 100000;\n  client_body_temp_path {d};\n\
               proxy_temp_path {d};\n  fastcgi_temp_path {d};\n  uwsgi_temp_path {d};\n  scgi_temp_path {d};\n\
               server {{ listen 127.0.0.1:{port}; root {d}/html; }}\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new(bin)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        let n = Nginx { child, dir, port };
        wait_for_listener(port, || {
            format!(
                "nginx did not listen on 127.0.0.1:{port}: {}",
                std::fs::read_to_string(n.dir.join("error.log")).unwrap_or_default()
            )
        });
        n
    }

    /// Lines of the access log with status 200 (nginx writes each line as the
    /// request completes: no `buffer=` given).
    fn logged_200(&self) -> u64 {
        let log = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
        log.lines().filter(|l| l.contains("\" 200 ")).count() as u64
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGQUIT);
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.child.try_wait() {
                let _ = std::fs::remove_dir_all(&self.dir);
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counts_match_nginx_access_log() {
    let nginx = Nginx::start();
    let url = format!("http://127.0.0.1:{}/", nginx.port);

    let r = bench("-k -c 16 -t 30 --max-requests 5000", &[&url]).await;
    assert_eq!((r.succeeded, r.failed, r.retried), (5000, 0, 0), "{r:#?}");
    assert_eq!(nginx.logged_200(), 5000);

    let r = bench("-c 8 -t 30 --max-requests 1000", &[&url]).await;
    assert_eq!((r.succeeded, r.failed), (1000, 0), "{r:#?}");
    assert_eq!(nginx.logged_200(), 6000);
    // nginx's default page answer: headers plus the 612-byte file, each time.
    assert!(r.bytes > 1000 * 612 && r.bytes % 1000 == 0, "{}", r.bytes);

    // Time-bound: every logged request was counted, apart from those the clock cut.
    let r = bench("-c 8 -t 1", &[&url]).await;
    // nginx logs as it finishes each request; let the last ones land.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logged = nginx.logged_200() - 6000;
    assert!(
        r.failed == 0 && logged >= r.succeeded && logged <= r.succeeded + r.cut_at_end,
        "nginx logged {logged}: {r:#?}"
    );
}
