// The lobby: the list of live rooms, refreshed every few seconds while it shows.

import { describeError } from "./protocol.js";
import { app } from "./context.js";
import * as ui from "./ui.js";

const ROOM_LIST_REFRESH_MS = 5000;

/** Shows the lobby; `join(roomId)` is what a room's Join button does. */
export function showLobby(join) {
  ui.showView("lobby");
  app.listJoin = join;
  if (app.roomsLoaded) ui.renderRoomList(app.rooms, { join }); // now, without a room just left
  refreshRooms(join);
  stopRoomList();
  app.listTimer = setInterval(() => refreshRooms(join), ROOM_LIST_REFRESH_MS);
}

/** A room known to be gone (we left it ended, or joining it said so): off the list now,
 * not at the next refresh. */
export function forgetRoom(roomId) {
  const before = app.rooms.length;
  app.rooms = app.rooms.filter((r) => r.id !== roomId);
  if (app.rooms.length !== before && app.listJoin) ui.renderRoomList(app.rooms, { join: app.listJoin });
}

// A page brought back to the front shows the rooms as they are, not as they were.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && app.listTimer && app.listJoin) refreshRooms(app.listJoin);
});

export function stopRoomList() {
  if (app.listTimer) clearInterval(app.listTimer);
  app.listTimer = null;
}

export async function refreshRooms(join) {
  if (!app.conn || !app.conn.isOpen) return;
  try {
    const reply = await app.conn.request("list_rooms", { limit: 50 });
    app.rooms = reply.rooms || [];
    app.roomsLoaded = true;
    ui.renderRoomList(app.rooms, { join });
  } catch (err) {
    if (err.code !== "disconnected") ui.notify(describeError(err), "error");
  }
}
