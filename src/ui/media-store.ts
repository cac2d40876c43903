// Where the chat page keeps the images it sent: localStorage holds the words and small thumbnails (a few
// kB each), the images themselves (at most 1024 px on the long side, as Blobs) live in IndexedDB, so a
// reload finds them and a regenerated or continued conversation still shows them to the model. Videos
// are kept in memory for the session only: a clip can be hundreds of MB.
//
// When IndexedDB is unavailable (private windows in some browsers, a refused quota) the store keeps
// everything in memory and says so; the conversation then survives a reload with thumbnails only.

const DB_NAME = 'edgewise-media';
const STORE = 'media';

function request<T>(r: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB request failed'));
  });
}

function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const r = indexedDB.open(DB_NAME, 1);
    r.onupgradeneeded = () => r.result.createObjectStore(STORE);
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error ?? new Error('IndexedDB could not be opened'));
    r.onblocked = () => reject(new Error('IndexedDB is blocked by another tab'));
  });
}

export class MediaStore {
  /** This session's media (videos, and images when IndexedDB refused them). */
  private memory = new Map<string, Blob>();
  private db: Promise<IDBDatabase | null>;
  /** False once IndexedDB failed: images then do not survive a reload. */
  persistent = true;

  constructor() {
    this.db = ('indexedDB' in globalThis ? openDb() : Promise.reject(new Error('no IndexedDB'))).catch(() => {
      this.persistent = false;
      return null;
    });
  }

  /** Keeps `blob` under `key`; `persist` false keeps it for this session only (videos). */
  async put(key: string, blob: Blob, persist: boolean): Promise<void> {
    this.memory.set(key, blob);
    if (!persist) return;
    const db = await this.db;
    if (!db) return;
    try {
      const tx = db.transaction(STORE, 'readwrite');
      tx.objectStore(STORE).put(blob, key);
      await new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onerror = tx.onabort = () => reject(tx.error ?? new Error('IndexedDB write failed'));
      });
    } catch {
      // Over quota: this session still has it in memory.
      this.persistent = false;
    }
  }

  async get(key: string): Promise<Blob | null> {
    const m = this.memory.get(key);
    if (m) return m;
    const db = await this.db;
    if (!db) return null;
    try {
      const v = await request(db.transaction(STORE).objectStore(STORE).get(key));
      if (v instanceof Blob) {
        this.memory.set(key, v);
        return v;
      }
    } catch {
      // Unreadable: treated as gone.
    }
    return null;
  }

  /** Keys this store can give back now (memory and IndexedDB). */
  async keys(): Promise<Set<string>> {
    const out = new Set(this.memory.keys());
    const db = await this.db;
    if (db) {
      try {
        for (const k of await request(db.transaction(STORE).objectStore(STORE).getAllKeys())) out.add(String(k));
      } catch {
        // As above.
      }
    }
    return out;
  }

  /** Forgets everything but `keep` (the keys the saved conversation still refers to). */
  async retain(keep: ReadonlySet<string>): Promise<void> {
    for (const k of [...this.memory.keys()]) if (!keep.has(k)) this.memory.delete(k);
    const db = await this.db;
    if (!db) return;
    try {
      const tx = db.transaction(STORE, 'readwrite');
      const store = tx.objectStore(STORE);
      // Deletes are issued from the request's own callback, while the transaction is still active.
      const all = store.getAllKeys();
      all.onsuccess = () => {
        for (const k of all.result) if (!keep.has(String(k))) store.delete(k);
      };
      await new Promise<void>((resolve, reject) => {
        tx.oncomplete = () => resolve();
        tx.onerror = tx.onabort = () => reject(tx.error ?? new Error('IndexedDB delete failed'));
      });
    } catch {
      // Left for the next clean-up.
    }
  }
}
