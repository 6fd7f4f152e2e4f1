//! A private PostgreSQL cluster run from the system's binaries in a project-local directory,
//! so a fresh machine needs nothing set up by hand. Used by `serve` when `DATABASE_URL` is
//! unset, and by the test suite.
//!
//! The cluster listens on a Unix socket only (no TCP port to collide with), trusts local
//! connections, and runs as the `postgres` system user when we are root, since `initdb`
//! and `pg_ctl` refuse to run as root.

use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sqlx::postgres::PgConnectOptions;

const SUPERUSER: &str = "postgres";

#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error(
        "no PostgreSQL server binaries found (looked for initdb and pg_ctl on PATH and under \
         /usr/lib/postgresql/*/bin). Install them (Debian: `apt-get install postgresql`) or set \
         DATABASE_URL to an existing database"
    )]
    BinariesNotFound,
    #[error(
        "running as root, but there is no `postgres` system user to run PostgreSQL as; create one (`useradd -r postgres`) or set DATABASE_URL"
    )]
    NoPostgresUser,
    #[error("{step} failed: {detail}")]
    Command { step: &'static str, detail: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Tuning for a cluster: the test suite trades durability for speed.
#[derive(Debug, Clone, Copy)]
pub struct ClusterOptions {
    pub durable: bool,
    pub max_connections: u32,
}

impl ClusterOptions {
    pub const DEVELOPMENT: Self = Self {
        durable: true,
        max_connections: 100,
    };
    pub const TESTS: Self = Self {
        durable: false,
        max_connections: 400,
    };
}

#[derive(Debug)]
pub struct EmbeddedPostgres {
    bin_dir: PathBuf,
    data_dir: PathBuf,
    socket_dir: PathBuf,
    run_as_postgres: bool,
    /// Whether this handle started the server (and so should stop it).
    started_here: bool,
}

impl EmbeddedPostgres {
    /// Initialises the cluster under `base` if needed and starts it unless it already runs.
    /// Safe to call from several processes at once: a lock file serialises them.
    pub fn start(base: &Path, options: ClusterOptions) -> Result<Self, EmbeddedError> {
        let bin_dir = find_binaries().ok_or(EmbeddedError::BinariesNotFound)?;
        let run_as_postgres = is_root();
        fs::create_dir_all(base)?;
        let base = base.canonicalize()?;
        let data_dir = base.join("data");
        let socket_dir = socket_dir_for(&base);

        let lock = File::create(base.join("lock"))?;
        let _guard = FileLock::acquire(&lock)?;

        let mut pg = EmbeddedPostgres {
            bin_dir,
            data_dir,
            socket_dir,
            run_as_postgres,
            started_here: false,
        };
        if run_as_postgres {
            pg.give_to_postgres_user(&base)?;
        }
        if !pg.data_dir.join("PG_VERSION").exists() {
            pg.init()?;
        }
        if !pg.is_running()? {
            pg.start_server(&base, options)?;
            pg.started_here = true;
        }
        Ok(pg)
    }

    /// Connection options for one database of this cluster.
    pub fn connect_options(&self, database: &str) -> PgConnectOptions {
        PgConnectOptions::new()
            .socket(&self.socket_dir)
            .username(SUPERUSER)
            .database(database)
    }

    pub fn started_here(&self) -> bool {
        self.started_here
    }

    /// Stops the server (fast shutdown: open sessions are ended, data is kept).
    pub fn stop(&self) -> Result<(), EmbeddedError> {
        let data = self.data_dir.to_string_lossy().into_owned();
        self.run(
            "pg_ctl stop",
            "pg_ctl",
            &["-D", &data, "-m", "fast", "-w", "stop"],
        )?;
        Ok(())
    }

    fn init(&self) -> Result<(), EmbeddedError> {
        let data = self.data_dir.to_string_lossy().into_owned();
        self.run(
            "initdb",
            "initdb",
            &[
                "-D",
                &data,
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        Ok(())
    }

    fn is_running(&self) -> Result<bool, EmbeddedError> {
        let data = self.data_dir.to_string_lossy().into_owned();
        // pg_ctl status: 0 running, 3 not running, 4 no accessible data directory.
        let out = self.command("pg_ctl", &["-D", &data, "status"]).output()?;
        Ok(out.status.success())
    }

    fn start_server(&self, base: &Path, options: ClusterOptions) -> Result<(), EmbeddedError> {
        fs::create_dir_all(&self.socket_dir)?;
        if self.run_as_postgres {
            chown_to_postgres(&self.socket_dir)?;
        }
        let mut server_args = format!(
            "-k {} -c listen_addresses='' -c max_connections={}",
            self.socket_dir.display(),
            options.max_connections
        );
        if !options.durable {
            server_args.push_str(" -c fsync=off -c synchronous_commit=off -c full_page_writes=off");
        }
        let data = self.data_dir.to_string_lossy().into_owned();
        let log = base.join("postgres.log").to_string_lossy().into_owned();
        self.run(
            "pg_ctl start",
            "pg_ctl",
            &[
                "-D",
                &data,
                "-l",
                &log,
                "-o",
                &server_args,
                "-w",
                "-t",
                "60",
                "start",
            ],
        )
        .map_err(|err| match err {
            EmbeddedError::Command { step, detail } => EmbeddedError::Command {
                step,
                detail: format!("{detail} (see {log})"),
            },
            other => other,
        })?;
        Ok(())
    }

    /// The cluster's files must belong to the user the server runs as.
    fn give_to_postgres_user(&self, base: &Path) -> Result<(), EmbeddedError> {
        chown_to_postgres(base)?;
        fs::set_permissions(base, fs::Permissions::from_mode(0o755))?;
        Ok(())
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let path = self.bin_dir.join(program);
        if self.run_as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", SUPERUSER, "--"]).arg(path).args(args);
            cmd
        } else {
            let mut cmd = Command::new(path);
            cmd.args(args);
            cmd
        }
    }

    fn run(
        &self,
        step: &'static str,
        program: &str,
        args: &[&str],
    ) -> Result<Output, EmbeddedError> {
        let out = self.command(program, args).output()?;
        if out.status.success() {
            Ok(out)
        } else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let stdout = String::from_utf8_lossy(&out.stdout);
            Err(EmbeddedError::Command {
                step,
                detail: format!("{} {}", stderr.trim(), stdout.trim())
                    .trim()
                    .to_string(),
            })
        }
    }
}

/// The directory holding `initdb` and `pg_ctl`: PATH first, then the newest Debian layout.
pub fn find_binaries() -> Option<PathBuf> {
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_both(&dir) {
                // Debian links initdb into PATH; the real directory also has `postgres`.
                let real = dir.join("initdb").canonicalize().ok()?;
                return real.parent().map(Path::to_path_buf);
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_both(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// Unix socket paths are limited to about 100 bytes; deep checkouts fall back to /tmp.
fn socket_dir_for(base: &Path) -> PathBuf {
    let preferred = base.join("socket");
    if preferred.as_os_str().len() + "/.s.PGSQL.5432".len() < 100 {
        return preferred;
    }
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(base.as_os_str().as_encoded_bytes());
    PathBuf::from(format!("/tmp/therethere-pg-{}", &hex::encode(digest)[..12]))
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn chown_to_postgres(path: &Path) -> Result<(), EmbeddedError> {
    let status = Command::new("chown")
        .args(["-R", &format!("{SUPERUSER}:")])
        .arg(path)
        .status()?;
    if status.success() {
        Ok(())
    } else {
        Err(EmbeddedError::NoPostgresUser)
    }
}

/// An exclusive `flock` held until dropped; works across processes and threads.
struct FileLock<'a>(&'a File);

impl<'a> FileLock<'a> {
    fn acquire(file: &'a File) -> std::io::Result<Self> {
        // SAFETY: the descriptor is valid for the lifetime of `file`, which outlives the lock.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(FileLock(file))
    }
}

impl Drop for FileLock<'_> {
    fn drop(&mut self) {
        // SAFETY: as in acquire.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}
