"""What a server is told when it adds the bot: the set-up steps from invite to the first alert.

Owed like every message the bot sends on its own: one outbox row per server (``guild.joined:<id>:guild:<id>``),
written when Discord says the bot joined, so a crash before it is sent loses nothing and a rejoin (or a
second GUILD_CREATE) does not post it again. Where it goes — the system channel if the bot may post
there, else the owner's DM — is decided by the sender when it sends (`bot.delivery`), the one moment it
can be known.
"""

from __future__ import annotations

from datetime import datetime

from config.settings import Settings
from services.context import ServiceContext

WELCOME_EVENT = "guild.joined"


def welcome_text(settings: Settings) -> str:
    """The set-up steps, with this bot's own Pro role name; the Stripe step only when billing is set up."""
    role = settings.discord.pro_role.strip() or "Pro"
    stripe = (
        "4. **Members who already pay**: link each to their Stripe customer with "
        "`/mod billing link member customer_id` (the bot then gives them the role). New members use `/upgrade`."
        if settings.stripe.secret_key is not None
        else "4. **Pro members**: Stripe billing is not configured on this bot yet, so give the role by hand "
        "(later, `/mod billing link member customer_id` links a member to their Stripe customer)."
    )
    return "\n".join(
        [
            "**Thanks for adding Stratum.** Set-up, from here to the first alert (you need Manage Server):",
            f"1. **Pro role**: create a role named **{role}** (the name, or id, set as `discord.pro_role` in the "
            "bot's config). Members without it are Community. Keep the bot's own role above it, so Stripe "
            "billing can give and take it.",
            f"2. **Alerts channel**: create a private text channel: deny View Channel for @everyone, allow it for "
            f"@{role} and for the bot (with Send Messages and Embed Links). Alerts carry the Pro diagnostics "
            "(books in the order they moved, velocity, score breakdown), so only Pro members may read them; "
            "the bot refuses a channel anyone else can see.",
            "3. **Route alerts**: `/mod alerts set channel:#your-channel types:all` (STEAM, DISLOCATION, "
            f"KEY_CROSS; each alert pings @{role}).",
            stripe,
            "5. **Commands**: `/help` lists what each tier has. `/mod` commands are shown only to members with "
            "Manage Server (Server Settings → Integrations changes who sees them).",
        ]
    )


async def queue_welcome(ctx: ServiceContext, guild_id: int, now: datetime) -> bool:
    """Owe the server its set-up steps (once per server, ever); True if newly owed."""
    async with ctx.repos.db.transaction():
        return await ctx.repos.outbox.enqueue_guild_post(
            WELCOME_EVENT, str(guild_id), guild_id, welcome_text(ctx.settings), now
        )
