/**
 * Conveyor's embedded SQLite files (outbox, model cache, example and observation stores) open the same
 * way: the folder created, write-ahead logging so readers never block the writer, and a busy timeout so
 * several worker processes on one host wait for each other's writes instead of failing.
 */
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';

export function openSqlite(file: string, schema: string): Database.Database {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.exec(schema);
  return db;
}
