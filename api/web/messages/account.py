MESSAGES: dict[str, dict[str, str]] = {
    # the account page: one's own password
    "nav_account": {"vi": "Tài khoản", "en": "Account"},
    "account_title": {"vi": "Tài khoản của tôi", "en": "My account"},
    "account_details": {"vi": "Thông tin tài khoản", "en": "Account details"},
    "account_cooperative": {"vi": "Hợp tác xã", "en": "Cooperative"},
    "account_change_password": {"vi": "Đổi mật khẩu", "en": "Change password"},
    "account_change_intro": {
        "vi": "Cần nhập mật khẩu hiện tại. Sau khi đổi, các phiên đăng nhập khác của bạn (điện thoại, máy tính khác) "
        "sẽ bị đăng xuất.",
        "en": "Your current password is needed. Once it is changed, your other sessions (other phones and computers) "
        "are signed out.",
    },
    "current_password": {"vi": "Mật khẩu hiện tại", "en": "Current password"},
    "new_password": {"vi": "Mật khẩu mới", "en": "New password"},
    "new_password_again": {"vi": "Nhập lại mật khẩu mới", "en": "New password again"},
    "account_change_button": {"vi": "Đổi mật khẩu", "en": "Change password"},
    "account_password_changed": {
        "vi": "Đã đổi mật khẩu. Các phiên đăng nhập khác của bạn đã được đăng xuất.",
        "en": "Password changed. Your other sessions were signed out.",
    },
    "account_wrong_current": {"vi": "Mật khẩu hiện tại không đúng.", "en": "The current password is wrong."},
    "password_mismatch": {
        "vi": "Hai lần nhập mật khẩu mới không giống nhau.",
        "en": "The two new passwords are not the same.",
    },
    "password_unchanged": {
        "vi": "Mật khẩu mới phải khác mật khẩu hiện tại.",
        "en": "The new password must differ from the current one.",
    },
    # the reset page: a code from the cooperative admin
    "reset_title": {"vi": "Đặt lại mật khẩu", "en": "Reset your password"},
    "reset_intro": {
        "vi": "Nhập mã đặt lại mà quản trị hợp tác xã đã gửi cho bạn (qua điện thoại hoặc Zalo), rồi chọn mật khẩu "
        "mới.",
        "en": "Type the reset code your cooperative admin gave you (by phone or Zalo), then choose a new password.",
    },
    "reset_code": {"vi": "Mã đặt lại", "en": "Reset code"},
    "reset_code_hint": {
        "vi": "12 ký tự, ví dụ ABCD-EFGH-JKMN; chữ hoa hay chữ thường, có gạch nối hay không đều được.",
        "en": "12 characters, e.g. ABCD-EFGH-JKMN; upper or lower case, with or without hyphens.",
    },
    "reset_button": {"vi": "Lưu mật khẩu mới", "en": "Save the new password"},
    "reset_code_invalid": {
        "vi": "Mã đặt lại không đúng, đã hết hạn hoặc đã được dùng. Hãy kiểm tra từng ký tự, hoặc xin quản trị hợp "
        "tác xã một mã mới.",
        "en": "The reset code is wrong, expired or already used. Check each character, or ask your cooperative "
        "admin for a new code.",
    },
    "reset_too_many": {
        "vi": "Nhập mã đặt lại quá nhiều lần; hãy thử lại sau {minutes} phút.",
        "en": "Too many reset codes tried; try again in {minutes} minutes.",
    },
    "reset_unavailable": {
        "vi": "Chức năng đặt lại mật khẩu tạm thời không dùng được; hãy thử lại sau.",
        "en": "Password reset is unavailable right now; try again later.",
    },
    "reset_done": {
        "vi": "Đã lưu mật khẩu mới; mọi phiên đăng nhập cũ đã kết thúc. Hãy đăng nhập bằng mật khẩu mới.",
        "en": "The new password is saved and every old session has ended. Sign in with the new password.",
    },
    "login_forgot": {
        "vi": "Quên mật khẩu? Nhờ quản trị hợp tác xã tạo mã đặt lại, rồi mở trang",
        "en": "Forgot your password? Ask your cooperative admin for a reset code, then open",
    },
    # the members page: a cooperative admin makes a code
    "admin_reset_button": {"vi": "Mã đặt lại mật khẩu", "en": "Password reset code"},
    "admin_confirm_reset": {
        "vi": "Tạo mã đặt lại mật khẩu cho {who}? Mã cũ của người này (nếu có) sẽ hết hiệu lực.",
        "en": "Make a password reset code for {who}? Their previous code, if any, stops working.",
    },
    "admin_reset_title": {"vi": "Mã đặt lại mật khẩu của {who}", "en": "Password reset code for {who}"},
    "admin_reset_once": {
        "vi": "Mã chỉ hiện một lần. Hãy đọc hoặc gửi mã cho {who} qua điện thoại hoặc Zalo. Mã dùng được một lần, "
        "đến {until}. Khi {who} đặt mật khẩu mới, mọi phiên đăng nhập của họ sẽ kết thúc.",
        "en": "Shown only once. Read or send the code to {who} by phone or Zalo. It works once, until {until}. When "
        "{who} sets a new password, all their sessions end.",
    },
    "admin_reset_link": {
        "vi": "Hoặc gửi đường dẫn này (mở trang đặt lại với mã đã điền sẵn):",
        "en": "Or send this link (it opens the reset page with the code filled in):",
    },
    "admin_copy_code": {"vi": "Sao chép mã", "en": "Copy the code"},
    "admin_copy_link": {"vi": "Sao chép đường dẫn", "en": "Copy the link"},
    "admin_reset_shown_once": {
        "vi": "Mã đặt lại của {who} đã được hiện một lần. Nếu cần, hãy tạo mã mới (mã cũ sẽ hết hiệu lực).",
        "en": "The reset code for {who} was shown once already. Make a new one if needed (the old one then stops "
        "working).",
    },
    "admin_self_reset": {
        "vi": "Hãy đổi mật khẩu của chính bạn ở trang Tài khoản.",
        "en": "Change your own password on the Account page.",
    },
    "admin_reset_inactive": {
        "vi": "Tài khoản này đang bị khoá; hãy mở lại trước khi tạo mã đặt lại mật khẩu.",
        "en": "This account is deactivated; reactivate it before making a reset code.",
    },
}
