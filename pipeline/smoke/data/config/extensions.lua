
-- ---- appended by the smoke test (pipeline/smoke/data/config/extensions.lua) -----------
-- An extension that exists only in the Lua dialplan: it answers and echoes.
extensions = extensions or {}
extensions["smoke-lua"] = {
	["lua"] = function(context, exten)
		app.answer()
		app.echo()
	end,
}
