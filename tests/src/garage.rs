//! A real single-node Garage S3 server for tests, on free loopback ports, with one bucket
//! and one key; stopped and deleted when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::require_tool;

pub const REGION: &str = "garage";
pub const BUCKET: &str = "courses";
const INSTALL: &str = "cargo install garage --locked --version 2.5.0";

pub struct Garage {
    pub endpoint: String,
    pub key_id: String,
    pub secret: String,
    config: PathBuf,
    child: Option<Child>,
    _dir: tempfile::TempDir,
}

/// A free loopback port (the listener is dropped before use: small race, fine for tests).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

/// Runs an admin command, retrying for a while: right after start (and on a loaded
/// machine) the node may not accept layout and bucket changes yet.
fn garage(config: &Path, args: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let output = Command::new("garage").arg("-c").arg(config).args(args).output().expect("run garage");
        if output.status.success() {
            return String::from_utf8_lossy(&output.stdout).into_owned();
        }
        assert!(Instant::now() < deadline, "garage {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn field(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .map(|v| v.trim().to_owned())
        .unwrap_or_else(|| panic!("no {name} in garage output:\n{text}"))
}

impl Garage {
    /// Starts a one-node Garage with a bucket and a key. Its ports are picked free and then
    /// bound by Garage, so another process can take one in between: a node that exits at
    /// start is started again on other ports (never mistaken for a server someone else runs).
    pub fn start() -> Garage {
        require_tool("garage", INSTALL);
        for _attempt in 0..5 {
            if let Some(garage) = Garage::start_on_free_ports() {
                return garage;
            }
        }
        panic!("garage exited at start five times (ports taken?)")
    }

    fn start_on_free_ports() -> Option<Garage> {
        let dir = tempfile::tempdir().expect("tempdir");
        let (s3_port, rpc_port) = (free_port(), free_port());
        let secret: String = {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(format!("{:?}{}", dir.path(), std::process::id())))
        };
        let config = dir.path().join("garage.toml");
        std::fs::write(
            &config,
            format!(
                "metadata_dir = \"{d}/meta\"\ndata_dir = \"{d}/data\"\ndb_engine = \"sqlite\"\n\
                 replication_factor = 1\nrpc_bind_addr = \"127.0.0.1:{rpc_port}\"\n\
                 rpc_public_addr = \"127.0.0.1:{rpc_port}\"\nrpc_secret = \"{secret}\"\n\
                 [s3_api]\ns3_region = \"{REGION}\"\napi_bind_addr = \"127.0.0.1:{s3_port}\"\n\
                 root_domain = \".s3.garage.localhost\"\n",
                d = dir.path().display()
            ),
        )
        .expect("write garage config");
        let mut garage_node = Garage {
            endpoint: format!("http://127.0.0.1:{s3_port}"),
            key_id: String::new(),
            secret: String::new(),
            config,
            child: None,
            _dir: dir,
        };
        garage_node.spawn();
        let node = garage_node.wait_for_node()?;
        let cfg = garage_node.config.clone();
        garage(&cfg, &["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        garage(&cfg, &["layout", "apply", "--version", "1"]);
        garage(&cfg, &["bucket", "create", BUCKET]);
        let key = garage(&cfg, &["key", "create", "test-key"]);
        garage_node.key_id = field(&key, "Key ID:");
        garage_node.secret = field(&key, "Secret key:");
        garage(&cfg, &["bucket", "allow", "--read", "--write", "--owner", BUCKET, "--key", "test-key"]);
        garage_node.wait_for_s3();
        // Still ours: a node that could not bind its S3 port has exited by now.
        garage_node.is_running().then_some(garage_node)
    }

    fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    fn spawn(&mut self) {
        let child = Command::new("garage")
            .arg("-c")
            .arg(&self.config)
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start garage ({e}); install it with: {INSTALL}"));
        self.child = Some(child);
    }

    /// The node id once it answers; `None` when the server exited first.
    fn wait_for_node(&mut self) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = Command::new("garage").arg("-c").arg(&self.config).args(["node", "id", "-q"]).output();
            if let Ok(out) = out {
                if out.status.success() {
                    let id = String::from_utf8_lossy(&out.stdout);
                    return Some(id.trim().split('@').next().unwrap_or_default().to_owned());
                }
            }
            if !self.is_running() {
                return None;
            }
            assert!(Instant::now() < deadline, "garage did not come up");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn wait_for_s3(&self) {
        let addr = self.endpoint.trim_start_matches("http://").to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "garage S3 API did not come up");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the server (its data stays), as an outage would.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again after [`Garage::stop`].
    pub fn restart(&mut self) {
        self.spawn();
        self.wait_for_s3();
    }

    /// Environment for AWS SDK clients (the standard credential chain reads these).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ACCESS_KEY_ID", self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
            ("AWS_REGION", REGION.to_owned()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_owned()),
        ]
    }

    /// An S3 client for this server.
    pub async fn client(&self) -> aws_sdk_s3::Client {
        let credentials =
            aws_sdk_s3::config::Credentials::new(&self.key_id, &self.secret, None, None, "test");
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .credentials_provider(credentials)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// Copies a local store directory (objects, releases, channels) under `prefix`.
    pub fn upload_store(&self, store: &Path, prefix: &str) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let client = self.client().await;
            for top in ["objects", "releases", "channels"] {
                for entry in walkdir::WalkDir::new(store.join(top)).into_iter().filter_map(Result::ok) {
                    if !entry.file_type().is_file() || entry.file_name().to_string_lossy().starts_with('.') {
                        continue;
                    }
                    let rel =
                        entry.path().strip_prefix(store).expect("under store").to_string_lossy().into_owned();
                    self.put(&client, &format!("{prefix}/{rel}"), std::fs::read(entry.path()).expect("read"))
                        .await;
                }
            }
        });
    }

    /// Writes one key.
    pub fn put_blocking(&self, key: &str, bytes: Vec<u8>) {
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        rt.block_on(async {
            let client = self.client().await;
            self.put(&client, key, bytes).await;
        });
    }

    async fn put(&self, client: &aws_sdk_s3::Client, key: &str, bytes: Vec<u8>) {
        client
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(bytes.into())
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}
