MESSAGES: dict[str, dict[str, str]] = {
    # the public page a buyer reaches by scanning a lot's QR label, when the code finds no lot
    "lot_missing_title": {"vi": "Không tìm thấy lô hàng", "en": "Lot not found"},
    "lot_missing_code": {
        "vi": "Mã truy xuất “{code}” không có trong hệ thống.",
        "en": "The traceability code “{code}” is not in the system.",
    },
    "lot_missing_no_code": {"vi": "Đường dẫn này không có mã lô hàng.", "en": "This link has no lot code."},
    "lot_missing_check": {"vi": "Cách kiểm tra:", "en": "How to check:"},
    "lot_missing_rescan": {
        "vi": "Quét lại mã QR trên tem: giữ điện thoại yên, đủ sáng, cả mã QR nằm trong khung. Tem rách, ướt, "
        "nhăn hoặc mờ có thể cho ra mã sai.",
        "en": "Scan the QR label again: hold the phone still, in good light, with the whole code in the frame. A "
        "torn, wet, creased or faded label can give a wrong code.",
    },
    "lot_missing_typed": {
        "vi": "Nếu gõ địa chỉ bằng tay: mã phân biệt chữ hoa và chữ thường; hãy so với những ký tự đầu của mã in "
        "trên tem.",
        "en": "If you typed the address: the code is case-sensitive; compare it with the first characters of the "
        "code printed on the label.",
    },
    "lot_missing_ask": {
        "vi": "Vẫn không được? Hãy hỏi người bán hoặc hợp tác xã ghi trên bao bì: có thể tem bị in sai hoặc không "
        "phải của CropWatch.",
        "en": "Still not found? Ask the seller or the cooperative named on the package: the label may be misprinted "
        "or not from CropWatch.",
    },
}
