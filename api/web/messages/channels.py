"""The notification channels page."""

MESSAGES = {
    "nav_channels": {"vi": "Kênh thông báo", "en": "Notifications"},
    "channels_title": {"vi": "Kênh thông báo", "en": "Notification channels"},
    "channels_sub": {
        "vi": "Cảnh báo sâu hại của hợp tác xã được gửi tới các kênh này (Zalo OA, Telegram, e-mail, "
        "webhook), từ mức đã chọn trở lên.",
        "en": "The cooperative's pest alerts go to these channels (Zalo OA, Telegram, e-mail, webhook), "
        "from the chosen level up.",
    },
    "channels_list": {"vi": "Các kênh", "en": "Channels"},
    "channels_none": {
        "vi": "Chưa có kênh nào: cảnh báo chỉ hiện trong ứng dụng.",
        "en": "No channel yet: alerts show in the app only.",
    },
    "channel_kind": {"vi": "Loại kênh", "en": "Kind"},
    "channel_kind_zalo": {"vi": "Zalo OA", "en": "Zalo OA"},
    "channel_kind_telegram": {"vi": "Telegram", "en": "Telegram"},
    "channel_kind_email": {"vi": "E-mail", "en": "E-mail"},
    "channel_kind_webhook": {"vi": "Webhook (máy chủ khác)", "en": "Webhook (another server)"},
    "channel_kind_in_app": {"vi": "Trong ứng dụng", "en": "In the app"},
    "channel_name": {"vi": "Tên kênh", "en": "Name"},
    "channel_target": {"vi": "Gửi tới", "en": "Sends to"},
    "channel_min_level": {"vi": "Từ mức", "en": "From level"},
    "channel_locale": {"vi": "Ngôn ngữ tin nhắn", "en": "Message language"},
    "channel_on": {"vi": "Đang bật", "en": "On"},
    "channel_off": {"vi": "Đã tắt", "en": "Off"},
    "channel_test": {"vi": "Gửi thử", "en": "Send a test"},
    "channel_disable": {"vi": "Tắt kênh", "en": "Disable"},
    "channel_confirm_disable": {
        "vi": "Tắt kênh này? Cảnh báo sẽ không gửi tới đây nữa.",
        "en": "Disable this channel? Alerts will no longer go here.",
    },
    "channel_new": {"vi": "Thêm kênh", "en": "Add a channel"},
    "channel_zalo_token": {"vi": "Mã truy cập Zalo OA (access token)", "en": "Zalo OA access token"},
    "channel_zalo_user": {"vi": "Mã người theo dõi Zalo (user id)", "en": "Zalo follower id (user id)"},
    "channel_tg_token": {"vi": "Mã bot Telegram", "en": "Telegram bot token"},
    "channel_tg_chat": {"vi": "Mã nhóm / người nhận (chat id)", "en": "Chat id"},
    "channel_email_to": {"vi": "Địa chỉ e-mail (cách nhau bằng dấu phẩy)", "en": "E-mail addresses (comma-separated)"},
    "channel_webhook_url": {"vi": "Địa chỉ URL (chỉ máy chủ công khai)", "en": "URL (public servers only)"},
    "channel_webhook_secret": {"vi": "Khoá ký (secret)", "en": "Signing secret"},
    "channel_hint": {
        "vi": "Chỉ điền phần của loại kênh đã chọn. Mã bí mật được lưu nhưng không hiện lại.",
        "en": "Fill in the part of the chosen kind only. Secrets are stored and never shown again.",
    },
    "channel_saved": {"vi": "Đã thêm kênh thông báo.", "en": "Channel added."},
    "channel_disabled": {"vi": "Đã tắt kênh.", "en": "Channel disabled."},
    "channel_test_sent": {
        "vi": "Đã gửi tin nhắn thử (mã trả lời {detail}).",
        "en": "Test message sent (answer {detail}).",
    },
    "channel_test_failed": {
        "vi": "Gửi thử không được: {detail}. Hãy kiểm tra cấu hình kênh.",
        "en": "The test message failed: {detail}. Check the channel's settings.",
    },
    # a member's own notifications (/account/notifications)
    "personal_title": {"vi": "Nhận cảnh báo trên điện thoại", "en": "Alerts on my phone"},
    "personal_sub": {
        "vi": "Cảnh báo sâu hại của các lô bạn theo dõi được gửi tới Zalo, Telegram hoặc e-mail của bạn, qua "
        "Zalo OA và bot Telegram của hợp tác xã.",
        "en": "Pest alerts of the plots you follow go to your own Zalo, Telegram or e-mail, through the "
        "cooperative's Zalo OA and Telegram bot.",
    },
    "personal_linked_list": {"vi": "Đã liên kết", "en": "Linked"},
    "personal_none": {
        "vi": "Chưa liên kết: cảnh báo chỉ hiện trong ứng dụng.",
        "en": "Nothing linked yet: alerts show in the app only.",
    },
    "personal_kind": {"vi": "Nhận qua", "en": "Receive by"},
    "personal_kind_zalo": {"vi": "Zalo", "en": "Zalo"},
    "personal_kind_telegram": {"vi": "Telegram", "en": "Telegram"},
    "personal_kind_email": {"vi": "E-mail", "en": "E-mail"},
    "personal_not_set_up": {"vi": "HTX chưa cài đặt", "en": "not set up by the cooperative"},
    "personal_address": {
        "vi": "Mã Zalo, mã chat Telegram hoặc địa chỉ e-mail",
        "en": "Zalo id, Telegram chat id or e-mail",
    },
    "personal_address_hint": {
        "vi": "Zalo: mã người theo dõi, có sau khi bạn quan tâm Zalo OA của HTX. Telegram: gửi /start cho bot của "
        "HTX, bot trả lời mã chat. E-mail: địa chỉ của bạn.",
        "en": "Zalo: your follower id, given once you follow the cooperative's Zalo OA. Telegram: send /start to "
        "the cooperative's bot, it answers with your chat id. E-mail: your address.",
    },
    "personal_from_level": {"vi": "từ mức {level}", "en": "from level {level}"},
    "personal_link": {"vi": "Liên kết Zalo, Telegram hoặc e-mail", "en": "Link Zalo, Telegram or e-mail"},
    "personal_link_button": {"vi": "Liên kết", "en": "Link"},
    "personal_quiet": {"vi": "Giờ yên lặng (không bắt buộc)", "en": "Quiet hours (optional)"},
    "personal_quiet_from": {"vi": "Từ", "en": "From"},
    "personal_quiet_to": {"vi": "Đến", "en": "To"},
    "personal_quiet_hint": {
        "vi": "Trong giờ này các cảnh báo không nguy hiểm chờ đến hết giờ và đến một lần; cảnh báo nguy hiểm vẫn "
        "gửi ngay.",
        "en": "During these hours alerts below danger wait until they end and come as one message; danger alerts "
        "still go at once.",
    },
    "personal_digest": {"vi": "Tóm tắt hằng ngày lúc (không bắt buộc)", "en": "Daily digest at (optional)"},
    "personal_digest_hint": {
        "vi": "Nhận các cảnh báo không nguy hiểm gộp thành một tin mỗi ngày vào giờ này; cảnh báo nguy hiểm vẫn gửi "
        "ngay.",
        "en": "Get the alerts below danger as one message a day at this time; danger alerts still go at once.",
    },
    "personal_quiet_shown": {"vi": "yên lặng {start}–{end}", "en": "quiet {start}–{end}"},
    "personal_digest_shown": {"vi": "tóm tắt hằng ngày lúc {at}", "en": "daily digest at {at}"},
    "personal_test": {"vi": "Gửi thử cho tôi", "en": "Send me a test"},
    "personal_unlink": {"vi": "Bỏ liên kết", "en": "Unlink"},
    "personal_confirm_unlink": {
        "vi": "Bỏ liên kết này? Bạn sẽ không nhận cảnh báo ở đây nữa.",
        "en": "Unlink this? You will no longer get alerts here.",
    },
    "personal_linked": {
        "vi": "Đã liên kết. Hãy gửi thử để chắc chắn tin nhắn tới được.",
        "en": "Linked. Send a test to be sure messages arrive.",
    },
    "personal_unlinked": {"vi": "Đã bỏ liên kết.", "en": "Unlinked."},
    "personal_test_failed": {
        "vi": "Gửi thử không được: {detail}. Kiểm tra lại mã đã nhập, hoặc nhờ quản trị HTX kiểm tra kênh của HTX.",
        "en": "The test failed: {detail}. Check what you typed, or ask the cooperative's admin to check its channel.",
    },
    "account_notifications_link": {
        "vi": "Nhận cảnh báo qua Zalo, Telegram, e-mail",
        "en": "Get alerts by Zalo, Telegram, e-mail",
    },
}
