//! Where the server listens: the endpoints a config names, opening their sockets,
//! and sockets inherited from a parent process — a milpa supervisor or systemd
//! socket activation (`LISTEN_FDS`, read through the `listenfd` crate, which
//! checks that each descriptor is a socket of the expected kind).

use std::io;
use std::net::SocketAddr;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::{Config, resolve};

/// What a listener speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Security {
    /// TLS when a certificate is configured (`bind`), else plain text.
    Bind,
    /// TLS offering HTTP/1.1 only by ALPN (`http1_bind`).
    Http1Only,
    /// Plain text (`insecure_bind`).
    Insecure,
}

impl Security {
    /// One letter per listener in the environment a worker inherits them with.
    fn code(self) -> char {
        match self {
            Self::Bind => 'b',
            Self::Http1Only => 'h',
            Self::Insecure => 'i',
        }
    }

    fn from_code(code: char) -> Option<Self> {
        match code {
            'b' => Some(Self::Bind),
            'h' => Some(Self::Http1Only),
            'i' => Some(Self::Insecure),
            _ => None,
        }
    }
}

/// One address to listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Address {
    Tcp(SocketAddr),
    Unix(PathBuf),
    /// A descriptor inherited by socket activation (`fd://N`).
    Fd(i32),
}

/// A bound, listening socket, not yet registered with a runtime.
#[derive(Debug)]
pub(crate) enum Listener {
    Tcp(std::net::TcpListener),
    Unix(UnixListener),
}

impl Listener {
    pub(crate) fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        use std::os::fd::AsFd;
        match self {
            Self::Tcp(listener) => listener.as_fd(),
            Self::Unix(listener) => listener.as_fd(),
        }
    }
}

/// Every address of `config` in a fixed order: `bind`, `http1_bind`, `insecure_bind`.
pub(crate) fn endpoints(config: &Config) -> io::Result<Vec<(Address, Security)>> {
    let mut endpoints = Vec::new();
    for (binds, security) in [
        (&config.bind, Security::Bind),
        (&config.http1_bind, Security::Http1Only),
        (&config.insecure_bind, Security::Insecure),
    ] {
        for bind in binds {
            if let Some(path) = bind.strip_prefix("unix:") {
                endpoints.push((Address::Unix(PathBuf::from(path)), security));
            } else if let Some(fd) = bind.strip_prefix("fd://") {
                let fd = fd.parse().map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::InvalidInput,
                        format!("bad bind {bind:?}: fd://N wants a number"),
                    )
                })?;
                endpoints.push((Address::Fd(fd), security));
            } else {
                for addr in resolve(std::slice::from_ref(bind))? {
                    endpoints.push((Address::Tcp(addr), security));
                }
            }
        }
    }
    Ok(endpoints)
}

/// Opens every endpoint of `config`.
pub(crate) fn open_all(config: &Config) -> io::Result<Vec<(Listener, Security)>> {
    endpoints(config)?
        .into_iter()
        .map(|(address, security)| Ok((open(&address, config)?, security)))
        .collect()
}

/// Binds (or adopts) one address, with the config's backlog and socket-file options.
pub(crate) fn open(address: &Address, config: &Config) -> io::Result<Listener> {
    match address {
        Address::Tcp(addr) => bind_tcp(*addr, config.backlog)
            .map(Listener::Tcp)
            .map_err(|error| io::Error::new(error.kind(), format!("cannot bind {addr}: {error}"))),
        Address::Unix(path) => {
            let listener = bind_unix(path, config).map_err(|error| {
                io::Error::new(error.kind(), format!("cannot bind {}: {error}", path.display()))
            })?;
            Ok(Listener::Unix(listener))
        }
        Address::Fd(fd) => adopt(*fd),
    }
}

/// Binds a listening socket with `SO_REUSEADDR` and the configured backlog.
pub(crate) fn bind_tcp(addr: SocketAddr, backlog: u32) -> io::Result<std::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(socket.into())
}

/// Binds a Unix-domain socket at `path` with the configured backlog, replacing a
/// stale socket file left by a previous run (but never a file that is not a
/// socket), then applies `umask`, `user` and `group` to the file.
pub(crate) fn bind_unix(path: &Path, config: &Config) -> io::Result<UnixListener> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Ok(metadata) = std::fs::symlink_metadata(path)
        && metadata.file_type().is_socket()
    {
        std::fs::remove_file(path)?;
    }
    // Through socket2 for the configured backlog (std's bind uses its own).
    let socket = socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None)?;
    socket.bind(&socket2::SockAddr::unix(path)?)?;
    socket.listen(i32::try_from(config.backlog).unwrap_or(i32::MAX))?;
    let listener = UnixListener::from(std::os::fd::OwnedFd::from(socket));
    if let Some(umask) = config.umask {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o777 & !umask))?;
    }
    let uid = config.user.as_deref().map(user_id).transpose()?;
    let gid = config.group.as_deref().map(group_id).transpose()?;
    if uid.is_some() || gid.is_some() {
        std::os::unix::fs::chown(path, uid, gid)?;
    }
    Ok(listener)
}

fn user_id(user: &str) -> io::Result<u32> {
    if let Ok(uid) = user.parse() {
        return Ok(uid);
    }
    match nix::unistd::User::from_name(user) {
        Ok(Some(user)) => Ok(user.uid.as_raw()),
        _ => Err(io::Error::new(io::ErrorKind::NotFound, format!("no user {user:?}"))),
    }
}

fn group_id(group: &str) -> io::Result<u32> {
    if let Ok(gid) = group.parse() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(group) {
        Ok(Some(group)) => Ok(group.gid.as_raw()),
        _ => Err(io::Error::new(io::ErrorKind::NotFound, format!("no group {group:?}"))),
    }
}

/// The descriptors this process was given by `LISTEN_FDS`, read once (the
/// variables are removed so that child processes do not see them).
fn inherited() -> &'static Mutex<(listenfd::ListenFd, i32)> {
    static INHERITED: OnceLock<Mutex<(listenfd::ListenFd, i32)>> = OnceLock::new();
    INHERITED.get_or_init(|| {
        let first = std::env::var("LISTEN_FDS_FIRST_FD").ok().and_then(|fd| fd.parse().ok()).unwrap_or(3);
        Mutex::new((listenfd::ListenFd::from_env(), first))
    })
}

/// Takes ownership of listening socket `fd`, which must have been passed by
/// socket activation (`LISTEN_FDS`): milpa adopts only descriptors declared to it.
fn adopt(fd: i32) -> io::Result<Listener> {
    let mut inherited = inherited().lock().unwrap_or_else(|p| p.into_inner());
    let (fds, first) = &mut *inherited;
    let missing = || {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("fd://{fd}: descriptor {fd} was not passed by socket activation (LISTEN_FDS)"),
        )
    };
    let index = usize::try_from(fd - *first).map_err(|_| missing())?;
    take(fds, index)?.ok_or_else(missing)
}

/// The listener at `index` of `fds`, TCP or Unix-domain, whichever it is.
fn take(fds: &mut listenfd::ListenFd, index: usize) -> io::Result<Option<Listener>> {
    match fds.take_tcp_listener(index) {
        Ok(Some(listener)) => Ok(Some(Listener::Tcp(listener))),
        Ok(None) => Ok(None),
        Err(_) => Ok(fds.take_unix_listener(index)?.map(Listener::Unix)),
    }
}

/// The environment variable that describes inherited listeners to a worker.
pub(crate) const WORKER_LISTENERS: &str = "MILPA_WORKER_LISTENERS";

/// `LISTEN_FDS`-style variables for a child given `listeners` at descriptors 3…
/// (and `extra` more descriptors after them).
pub(crate) fn child_environment(
    listeners: &[(Listener, Security)],
    extra: usize,
) -> Vec<(&'static str, String)> {
    vec![
        ("LISTEN_FDS", (listeners.len() + extra).to_string()),
        ("LISTEN_FDS_FIRST_FD", "3".to_owned()),
        (WORKER_LISTENERS, listeners.iter().map(|(_, security)| security.code()).collect()),
    ]
}

/// In a worker: the listeners its supervisor passed, described by `codes` (one
/// letter per listener, from [`child_environment`]).
pub(crate) fn take_worker_listeners(codes: &str) -> io::Result<Vec<(Listener, Security)>> {
    let mut inherited = inherited().lock().unwrap_or_else(|p| p.into_inner());
    let (fds, _) = &mut *inherited;
    codes
        .chars()
        .enumerate()
        .map(|(index, code)| {
            let security = Security::from_code(code)
                .ok_or_else(|| io::Error::other(format!("bad {WORKER_LISTENERS} code {code:?}")))?;
            let listener = take(fds, index)?
                .ok_or_else(|| io::Error::other(format!("inherited listener {index} is missing")))?;
            Ok((listener, security))
        })
        .collect()
}

/// In a worker: the Unix-domain stream to its supervisor, passed after the listeners.
pub(crate) fn take_worker_channel(index: usize) -> io::Result<std::os::unix::net::UnixStream> {
    let mut inherited = inherited().lock().unwrap_or_else(|p| p.into_inner());
    let (fds, _) = &mut *inherited;
    fds.take_custom(index, nix::libc::AF_UNIX, nix::libc::SOCK_STREAM, "unix stream socket")?
        .ok_or_else(|| io::Error::other("the supervisor channel is missing"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_sockets_get_the_configured_backlog() {
        let path = std::env::temp_dir().join(format!("milpa-backlog-{}.sock", std::process::id()));
        let config = Config { backlog: 2, ..Config::default() };
        let listener = bind_unix(&path, &config).expect("binds");
        // Nobody accepts: connections queue up to the backlog, then are refused.
        let mut queued = Vec::new();
        for _ in 0..20 {
            let socket =
                socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::STREAM, None).expect("socket");
            socket.set_nonblocking(true).expect("non-blocking");
            if socket.connect(&socket2::SockAddr::unix(&path).expect("address")).is_err() {
                break;
            }
            queued.push(socket);
        }
        let _ = std::fs::remove_file(&path);
        drop(listener);
        assert!(queued.len() <= 3, "{} connections queued past a backlog of 2", queued.len());
    }
}
