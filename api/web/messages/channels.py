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
}
