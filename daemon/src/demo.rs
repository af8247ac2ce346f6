//! What `idoctord demo` seeds on embedded defaults: the `admin` and `demo` users (with
//! generated passwords, shown once) and a phantom series dropped into the demo user's
//! watch folder, so a newcomer sees a finished job within seconds.

use crate::accounts::{self, AccountError};
use crate::auth;
use crate::paths::Paths;
use crate::phantom::{self, PhantomOptions, Truth};
use crate::store::Store;
use idoctor_protocol::{NewUser, Role};
use std::io;
use std::path::{Path, PathBuf};

/// Creates `admin` and `demo` when missing; returns the new ones with their passwords.
pub async fn ensure_users<S: Store>(
    store: &S,
    paths: &Paths,
) -> Result<Vec<(String, String)>, AccountError> {
    let mut created = Vec::new();
    for (username, role) in [("admin", Role::Admin), ("demo", Role::Operator)] {
        if store.user_by_name(username).await?.is_some() {
            continue;
        }
        let password = auth::generate_password();
        accounts::create_user(
            store,
            paths,
            NewUser {
                username: username.into(),
                password: password.clone(),
                role,
                plan: Some("free".into()),
            },
        )
        .await?;
        created.push((username.to_string(), password));
    }
    Ok(created)
}

/// Writes a phantom series into `staging`, then moves its DICOM files into a new folder
/// under `watch_folder` with one rename, so intake never sees a half-written series.
/// `truth.json` stays in `staging`. Returns the truth and the dropped folder.
pub fn drop_phantom(
    opts: &PhantomOptions,
    staging: &Path,
    watch_folder: &Path,
) -> io::Result<(Truth, PathBuf)> {
    let series_dir = staging.join(format!("phantom-{}", opts.seed));
    let _ = std::fs::remove_dir_all(&series_dir);
    let (p, written) = phantom::write_phantom(opts, &series_dir)?;
    std::fs::rename(
        &written.truth,
        staging.join(format!("truth-{}.json", opts.seed)),
    )?;
    std::fs::create_dir_all(watch_folder)?;
    let dest = watch_folder.join(format!("phantom-{}-{}", opts.seed, std::process::id()));
    match std::fs::rename(&series_dir, &dest) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::CrossesDevices => {
            // Different file systems: copy into a hidden folder, then rename it into place.
            let tmp = watch_folder.join(format!(".incoming-{}", opts.seed));
            std::fs::create_dir_all(&tmp)?;
            for f in &written.files {
                if let Some(name) = f.file_name() {
                    std::fs::copy(f, tmp.join(name))?;
                }
            }
            std::fs::rename(&tmp, &dest)?;
            std::fs::remove_dir_all(&series_dir)?;
        }
        Err(e) => return Err(e),
    }
    Ok((p.truth, dest))
}
