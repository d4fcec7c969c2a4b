/*
 * file_claim.c - one file store handle per directory per process.
 *
 * LMDB's locks on lock.mdb are POSIX record locks, which belong to the process: if one process
 * opened an environment twice, closing either handle would drop the locks of both, and another
 * process could then take the environment for unused and reset its reader table under the first
 * handle. So a process keeps a list of the directories it has open (by device and inode, so two
 * spellings of one path are one directory) and a second open is refused. The list, under a
 * mutex, is the file store's one piece of global state.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "jwtsession/error.h"
#include "store/file.h"

typedef struct open_dir {
    dev_t dev;
    ino_t ino;
    struct open_dir *next;
} open_dir;

static pthread_mutex_t open_lock = PTHREAD_MUTEX_INITIALIZER;
static open_dir *open_dirs;

jwts_err jwts_file_claim(file_store *fs)
{
    struct stat st;
    if (stat(fs->path, &st) != 0) return jwts_file_fail(fs, errno, "cannot read the directory");
    jwts_err rc = JWTS_OK;
    pthread_mutex_lock(&open_lock);
    for (open_dir *d = open_dirs; d && !rc; d = d->next)
        if (d->dev == st.st_dev && d->ino == st.st_ino)
            rc = jwts_fail(JWTS_E_UNAVAILABLE,
                           "file store %.100s: already open in this process (one handle per directory per process)",
                           fs->path);
    open_dir *d = rc ? NULL : malloc(sizeof *d);
    if (!rc && !d) rc = jwts_fail(JWTS_E_NO_MEMORY, "file store: out of memory");
    if (d) {
        *d = (open_dir){st.st_dev, st.st_ino, open_dirs};
        open_dirs = d;
        fs->dev = st.st_dev, fs->ino = st.st_ino, fs->claimed = true;
    }
    pthread_mutex_unlock(&open_lock);
    return rc;
}

void jwts_file_release(file_store *fs)
{
    if (!fs->claimed) return;
    pthread_mutex_lock(&open_lock);
    for (open_dir **link = &open_dirs; *link; link = &(*link)->next) {
        if ((*link)->dev == fs->dev && (*link)->ino == fs->ino) {
            open_dir *d = *link;
            *link = d->next;
            free(d);
            break;
        }
    }
    pthread_mutex_unlock(&open_lock);
    fs->claimed = false;
}
