// The 404 page: nothing to load. With a usable session it shows the usual header
// (bell, name); without one it stays as it is, sending no one to sign in.
import { startPage } from "../header.js";
import { identity } from "../session.js";

const me = identity();
if (me && me.sub && (me.exp === null || me.exp * 1000 > Date.now())) startPage();
